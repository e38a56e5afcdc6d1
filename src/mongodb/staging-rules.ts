/**
 * Pure rules of the staging target: which live-collection options the
 * incoming collection takes (and which collections cannot be swapped), and
 * which failed writes of a retried insert may be the lost attempt's own.
 *
 * @module
 */
import type { Document } from 'mongodb';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { mongoErrorCode } from './errors.js';

/**
 * `create` options that define a collection and that `listCollections`
 * reports: copied from the live collection, so the swapped-in collection
 * validates, compares strings, caps and clusters as the old one did.
 */
export const COPIED_COLLECTION_OPTIONS = [
  'validator',
  'validationLevel',
  'validationAction',
  'collation',
  'capped',
  'size',
  'max',
  'clusteredIndex',
  'expireAfterSeconds',
  'changeStreamPreAndPostImages',
  'storageEngine',
  'indexOptionDefaults',
] as const;

/**
 * The `create` options of `<table>__incoming`, from the live collection's
 * `listCollections` entry (`undefined` when the live collection does not
 * exist yet). Refused, with `INVALID_ARGUMENT`: a view or a time-series
 * collection (neither can be renamed), a sharded collection (a rename cannot
 * replace it, and the new one would be unsharded), and any option this
 * library does not know how to carry over (e.g. `encryptedFields`).
 *
 * @example
 * ```ts
 * incomingOptions('a', { name: 'a', type: 'collection', options: { collation: { locale: 'fr' } } }, false);
 * // ok({ collation: { locale: 'fr' } })
 * ```
 */
export function incomingOptions(table: string, live: Document | undefined, sharded: boolean): Result<Document, BackfillError> {
  const refuse = (why: string): Result<Document, BackfillError> =>
    err(
      new BackfillError('INVALID_ARGUMENT', `collection ${table} ${why}; it cannot be replaced by a rename. Nothing was changed.`, {
        context: { table },
      }),
    );
  if (sharded)
    return refuse(
      'is sharded (a rename cannot replace a sharded collection, and would leave it unsharded); stage into an unsharded collection',
    );
  if (live === undefined) return ok({});
  const type = typeof live.type === 'string' ? live.type : 'collection';
  if (type !== 'collection') return refuse(`is a ${type}`);
  const options = (live.options ?? {}) as Document;
  const out: Document = {};
  for (const [key, value] of Object.entries(options)) {
    if (!(COPIED_COLLECTION_OPTIONS as readonly string[]).includes(key))
      return refuse(`has the option \`${key}\`, which this library does not copy`);
    if (key === 'clusteredIndex' && typeof value === 'object' && value !== null) {
      const { v: _v, ...spec } = value as Document;
      out[key] = spec;
    } else out[key] = value;
  }
  return ok(out);
}

/**
 * The batch indexes of a retried insert's failed writes when every one of
 * them is a duplicate key (then each may be a document the lost attempt
 * already stored), else `undefined`.
 *
 * @example
 * ```ts
 * retriedInsertDuplicates({ writeErrors: [{ index: 2, code: 11000 }] }, 5); // [2]
 * retriedInsertDuplicates({ writeErrors: [{ index: 2, code: 121 }] }, 5);   // undefined
 * ```
 */
export function retriedInsertDuplicates(error: unknown, batchLength: number): number[] | undefined {
  const raw = (error as { writeErrors?: unknown } | null)?.writeErrors;
  const list = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw];
  if (list.length === 0) return undefined;
  const out: number[] = [];
  for (const w of list) {
    const index = (w as { index?: unknown; err?: { index?: unknown } }).index ?? (w as { err?: { index?: unknown } }).err?.index;
    if (
      mongoErrorCode({ writeErrors: [w] }) !== 11000 ||
      typeof index !== 'number' ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= batchLength
    )
      return undefined;
    out.push(index);
  }
  return out;
}
