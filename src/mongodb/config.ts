/**
 * Validation shared by the adapters' constructors (internal): each resolves
 * its options once into a frozen context, and a bad option becomes
 * `INVALID_ARGUMENT` from every method.
 *
 * @module
 */
import type { Db, WriteConcernSettings } from 'mongodb';
import { err, ok, safeTry, type Err, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { boundedWriteConcern } from './defaults.js';
import { retryOptionsFrom, type MongoRetryOptions } from './errors.js';

/** An `INVALID_ARGUMENT` error as a Result. */
export function invalid(message: string, context?: Record<string, unknown>): Err<never, BackfillError> {
  return err(new BackfillError('INVALID_ARGUMENT', message, context === undefined ? {} : { context }));
}

/** A whole number from `min` to `max`, or `INVALID_ARGUMENT` with `message`. */
export function wholeNumber(value: number, min: number, max: number, message: string): Result<number, BackfillError> {
  return Number.isSafeInteger(value) && value >= min && value <= max ? ok(value) : invalid(message);
}

/** The config's `db` when it is a driver `Db` (or shaped like one). */
export function databaseOf(config: unknown): Result<Db, BackfillError> {
  const db = (config as { db?: { collection?: unknown } } | null | undefined)?.db;
  return typeof db?.collection === 'function' ? ok(db as unknown as Db) : invalid('`db` must be a mongodb Db (client.db(name)).');
}

/**
 * Why MongoDB would refuse `name` as a collection name, leaving room for
 * `reserveBytes` of suffix; undefined when it is fine.
 */
export function collectionNameProblem(name: unknown, reserveBytes = 0): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'must be a non-empty string';
  if (name.includes('\0') || name.includes('$')) return 'must not contain `$` or NUL';
  if (name.startsWith('system.')) return 'must not start with `system.`';
  if (name.startsWith('.') || name.endsWith('.')) return 'must not start or end with `.`';
  if (Buffer.byteLength(name) + reserveBytes > 200) return 'is too long';
  return undefined;
}

/** `name` (or `fallback` when it is not given) as a collection name, or `INVALID_ARGUMENT` naming the option. */
export function collectionOption(name: string | undefined, fallback: string, option: string): Result<string, BackfillError> {
  const value = name ?? fallback;
  const problem = collectionNameProblem(value);
  return problem === undefined ? ok(value) : invalid(`${option} ${JSON.stringify(value)} ${problem}.`, { table: String(value) });
}

/**
 * `INVALID_ARGUMENT` when two of an adapter's collection options (name,
 * option) name the same collection: each collection holds documents of one
 * kind, keyed its own way, and two kinds in one collection overwrite each
 * other or fail on each other's unique indexes.
 */
export function distinctCollections(named: readonly (readonly [name: string, option: string])[]): Result<void, BackfillError> {
  for (const [i, [name, option]] of named.entries()) {
    const other = named.slice(0, i).find(([n]) => n === name);
    if (other !== undefined)
      return invalid(
        `${other[1]} and ${option} both name the collection ${JSON.stringify(name)}; each must be a collection of its own (their documents are keyed differently and would overwrite each other or break each other's unique indexes). Name another collection in one of them.`,
        { table: name },
      );
  }
  return ok(undefined);
}

/** The retry options of a config, with `maxAttempts` a whole number ≥ 1 and `retryDelayMs` ≥ 0. */
export function resolveRetry(config: {
  readonly maxAttempts?: number;
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
}): Result<MongoRetryOptions, BackfillError> {
  return safeTry(function* () {
    const retry = retryOptionsFrom(config);
    yield* wholeNumber(retry.maxAttempts ?? 1, 1, Number.MAX_SAFE_INTEGER, 'maxAttempts must be a whole number of at least 1.');
    if (!((retry.delayMs ?? 0) >= 0)) return invalid('retryDelayMs must be a number of milliseconds, 0 or more.');
    return ok(retry);
  });
}

/**
 * The write concern every write of an adapter takes (see
 * {@link boundedWriteConcern}), or `INVALID_ARGUMENT` for `w: 0` and
 * `w: 1`. The adapters decide from majority reads (the count an import
 * commits on, the checkpoint a run resumes from, the documents already
 * backfilled), and such a read need not see a write that one member
 * acknowledged; an unacknowledged write reports neither errors nor counts.
 */
export function resolveWriteConcern(writeConcern: WriteConcernSettings | undefined): Result<WriteConcernSettings, BackfillError> {
  if (writeConcern !== undefined && (typeof writeConcern !== 'object' || writeConcern === null))
    return invalid('writeConcern must be an object such as { w: "majority" }.');
  const w = writeConcern?.w;
  if (w === 0)
    return invalid(
      'writeConcern { w: 0 } is refused: unacknowledged writes report no errors (a duplicate id would be lost without a word) and no counts. Use w: "majority" (the default).',
    );
  if (w === 1)
    return invalid(
      'writeConcern { w: 1 } is refused: the adapters decide from majority reads (the count an import commits on, the checkpoint a run resumes from, the documents already backfilled), which need not see a write only one member acknowledged yet, so an import could fail its count check now and then. Use w: "majority" (the default).',
    );
  return ok(boundedWriteConcern(writeConcern));
}
