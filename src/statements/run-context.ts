/**
 * What a statement backfill runs with, resolved once: the backfiller's
 * config when it is constructed ({@link BackfillerContext}), and each run's
 * options when it starts ({@link RunContext}), both checked and frozen, as
 * graphile-worker resolves its shared options once.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { progressOf, type ProgressReporter } from '../_internals/progress.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
  MAX_BATCH_BYTES_LIMIT,
  MAX_BATCH_SIZE,
  MAX_CLAIM_BYTES_PER_DOCUMENT_LIMIT,
} from './defaults.js';
import { areBuiltInNormalizers, NormalizerThreads } from './normalizer-threads.js';
import type { PageRules } from './outcomes.js';
import type { CheckpointOptions, DocumentCursor, RawDocumentPageQuery, RawDocumentSource, StatementSink, VexNormalizer } from './ports.js';
import type {
  RangeFirstPage,
  RangeRun,
  StatementBackfillerConfig,
  StatementBackfillOptions,
  StatementBackfillProgress,
} from './statement-backfiller.js';

/** What a backfiller was built with, resolved once by its constructor. */
export interface BackfillerContext {
  readonly source: RawDocumentSource;
  readonly sink: StatementSink;
  readonly normalizers: readonly VexNormalizer[];
  readonly threads: NormalizerThreads | undefined;
  readonly logger: Logger;
}

/** Everything one run needs, resolved once from the backfiller's context and the run's options. */
export interface RunContext extends BackfillerContext, PageRules {
  readonly runId: string;
  /** What the checkpoint records, and what a resume must repeat. */
  readonly checkpointOptions: CheckpointOptions;
  readonly batchSize: number;
  /** Most bytes of content per page (and batch), besides `batchSize`; a page holds at least one document. */
  readonly maxBatchBytes: number;
  /** The part of every page query that never changes: the range's end, `retrievedSince`, the signal. */
  readonly pageQuery: Omit<RawDocumentPageQuery, 'limit' | 'after'>;
  /** Where reading starts when there is no checkpoint: the range's lower bound, or the beginning. */
  readonly start: DocumentCursor | null;
  /** The range's last document, where the run ends; `null` for a run over the whole keyspace. */
  readonly through: DocumentCursor | null;
  /** Documents the run may evaluate in all (`maxDocuments`, or under it a range's planned count); `null` for no limit. */
  readonly limitTo: number | null;
  /** The range's size, when the run is one range of a planned run. */
  readonly rangeDocuments: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly shouldStop: (() => Promise<boolean>) | undefined;
  readonly onLastPageRead: (() => void) | undefined;
  readonly firstPage: RangeFirstPage | undefined;
  readonly throttle: ((progress: StatementBackfillProgress) => Promise<void>) | undefined;
  /** The caller's `onProgress`, which cannot throw (a no-op when none was given). */
  readonly onProgress: ProgressReporter<StatementBackfillProgress>;
}

/** The checkpoint ids of planned runs' key ranges (see `rangeCheckpointId`), which plain runs may not take. */
const RANGE_CHECKPOINT_ID = /#range-(\d+)$/;

/** The planned run and the range number a key range's checkpoint id names, or undefined for any other id. */
export function rangeOfCheckpointId(id: string): { readonly runId: string; readonly n: number } | undefined {
  const found = RANGE_CHECKPOINT_ID.exec(id);
  return found === null ? undefined : { runId: id.slice(0, found.index), n: Number(found[1]) };
}

const invalid = (message: string): BackfillError => new BackfillError('INVALID_ARGUMENT', message);

const isFunction = (value: unknown): boolean => typeof value === 'function';

/** Checks the backfiller's config and freezes it; the normalizers are copied, so later changes to the caller's array do not leak in. */
export function backfillerContext(config: StatementBackfillerConfig): Result<Readonly<BackfillerContext>, BackfillError> {
  const { source, sink, normalizers, normalizerThreads, logger } = config ?? {};
  if (!isFunction(source?.readPage)) return err(invalid('source must be a RawDocumentSource (it has no readPage()).'));
  if (!isFunction(sink?.existingDigests) || !isFunction(sink?.commitBatch) || !isFunction(sink?.loadCheckpoint)) {
    return err(invalid('sink must be a StatementSink (existingDigests(), commitBatch() and loadCheckpoint()).'));
  }
  if (!Array.isArray(normalizers)) return err(invalid('normalizers must be an array of VexNormalizer.'));
  const broken = normalizers.findIndex((n) => typeof n?.format !== 'string' || !isFunction(n.canNormalize) || !isFunction(n.normalize));
  if (broken !== -1) return err(invalid(`normalizers[${broken}] is not a VexNormalizer (format, canNormalize(), normalize()).`));
  if (normalizerThreads !== undefined) {
    if (!(normalizerThreads instanceof NormalizerThreads)) return err(invalid('normalizerThreads must be a NormalizerThreads.'));
    if (normalizerThreads.error) return err(normalizerThreads.error);
    if (!areBuiltInNormalizers(normalizers))
      return err(
        invalid(
          'normalizerThreads normalize with the built-in normalizers only; pass normalizers: defaultVexNormalizers, or leave normalizerThreads out.',
        ),
      );
  }
  return ok(
    Object.freeze({
      source,
      sink,
      normalizers: Object.freeze([...normalizers]),
      threads: normalizerThreads,
      logger: loggerOf(logger),
    }),
  );
}

/**
 * Largest `maxDocuments`: past it a number no longer counts documents one
 * by one, and past 2^63 the checkpoint's `bigint` column refuses it.
 */
export const MAX_DOCUMENTS_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Checks an integer option against its range (the upper bound being what
 * the column that stores it holds), naming it, so a value out of range is
 * refused before any work instead of failing as a database error later.
 */
export function integerOption(name: string, value: number | undefined, min: number, max: number): Result<void, BackfillError> {
  return value === undefined || (Number.isInteger(value) && value >= min && value <= max)
    ? ok(undefined)
    : err(invalid(`${name} must be an integer from ${min} to ${max}; got ${String(value)}.`));
}

function validate(options: StatementBackfillOptions): Result<void, BackfillError> {
  const { batchSize, maxBatchBytes, maxClaimBytesPerDocument, maxDocuments, retrievedSince, runId } = options;
  const counts = integerOption('batchSize', batchSize, 1, MAX_BATCH_SIZE)
    .andThen(() => integerOption('maxBatchBytes', maxBatchBytes, 1, MAX_BATCH_BYTES_LIMIT))
    .andThen(() => integerOption('maxClaimBytesPerDocument', maxClaimBytesPerDocument, 1, MAX_CLAIM_BYTES_PER_DOCUMENT_LIMIT))
    .andThen(() => integerOption('maxDocuments', maxDocuments, 1, MAX_DOCUMENTS_LIMIT));
  if (counts.isErr()) return counts;
  if (retrievedSince !== undefined && !(retrievedSince instanceof Date && !Number.isNaN(retrievedSince.getTime()))) {
    return err(invalid('retrievedSince must be a valid Date.'));
  }
  return runId === undefined ? ok(undefined) : validRunId(runId, MAX_RUN_ID_LENGTH);
}

/** Longest run id; a planned run's is shorter, leaving room for its ranges' `#range-<n>`. */
export const MAX_RUN_ID_LENGTH = 200;
export const MAX_PLANNED_RUN_ID_LENGTH = 180;

/**
 * A run id is stored and printed as text: one that is blank, begins or
 * ends with white space, holds a
 * control character (a newline, a tab, a NUL) or half of a surrogate pair
 * would be refused by the database or read back otherwise; one that holds
 * an invisible format character (a zero-width space, a byte-order mark),
 * or is not in Unicode normalization form C, prints like another run's id.
 */
export function validRunId(runId: unknown, max: number): Result<void, BackfillError> {
  if (typeof runId !== 'string' || runId.trim().length === 0 || runId.length > max)
    return err(invalid(`runId must be a non-blank string of at most ${max} characters.`));
  if (/\p{Cc}|\p{Surrogate}/u.test(runId))
    return err(invalid(`runId ${JSON.stringify(runId)} holds a control character or half of a surrogate pair; use printable text.`));
  // A zero-width space, a byte-order mark, a soft hyphen, a direction mark: a run id that prints like another one.
  const hidden = /\p{Cf}/u.exec(runId)?.[0];
  if (hidden !== undefined) {
    const shown = escaped(runId, /\p{Cf}/gu);
    return err(
      invalid(`runId ${shown} holds an invisible character (U+${hex(hidden).toUpperCase()}); type the run id in visible characters only.`),
    );
  }
  // Pasted with a space (or a no-break space) before or after it, it prints like the run it was meant to resume, and starts another.
  if (runId.trim() !== runId) {
    return err(
      invalid(
        `runId ${escaped(runId, /[^\x21-\x7e]/gu)} begins or ends with white space, so it prints like ${JSON.stringify(runId.trim())}, another run; leave the white space out.`,
      ),
    );
  }
  // An accent written as a combining mark prints like the accented letter: two run ids, one look.
  const composed = runId.normalize('NFC');
  if (composed !== runId) {
    const [shown, like] = [escaped(runId, /[^\x20-\x7e]/gu), escaped(composed, /[^\x20-\x7e]/gu)];
    return err(invalid(`runId ${shown} is not in Unicode normalization form C, so it prints like ${like} (${composed}); use that form.`));
  }
  return ok(undefined);
}

/** A character's code point as 4 or more lower-case hex digits. */
const hex = (c: string): string => (c.codePointAt(0) ?? 0).toString(16).padStart(4, '0');

/** `text` as a JSON string with the characters `which` matches written as `\uXXXX`, so they show. */
const escaped = (text: string, which: RegExp): string => JSON.stringify(text).replace(which, (c) => `\\u${hex(c)}`);

/** A plain run's id may not be one a planned run's range uses. */
export function plainRunId(runId: string | undefined): Result<void, BackfillError> {
  return runId !== undefined && RANGE_CHECKPOINT_ID.test(runId)
    ? err(invalid(`runId ${JSON.stringify(runId)} names a key range of a planned run (…#range-<n>); choose another run id.`))
    : ok(undefined);
}

/** Validates a run's options and resolves them, with the backfiller's context, into one frozen run context. */
export function runContext(
  backfiller: BackfillerContext,
  options: StatementBackfillOptions,
  scope?: RangeRun,
): Result<Readonly<RunContext>, BackfillError> {
  return validate(options).map(() => {
    const { retrievedSince, signal } = options;
    const checkpointOptions: CheckpointOptions = Object.freeze({
      retrievedSince: retrievedSince?.toISOString() ?? null,
      force: options.force ?? false,
      maxDocuments: options.maxDocuments ?? null,
    });
    return Object.freeze({
      ...backfiller,
      runId: options.runId ?? randomUUID(),
      checkpointOptions,
      force: checkpointOptions.force,
      stopOnError: options.stopOnError ?? false,
      batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
      maxBatchBytes: options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES,
      maxClaimBytesPerDocument: options.maxClaimBytesPerDocument ?? DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
      pageQuery: Object.freeze({
        ...(scope === undefined ? {} : { until: scope.range.through }),
        ...(retrievedSince === undefined ? {} : { retrievedSince }),
        ...(signal === undefined ? {} : { signal }),
      }),
      start: scope?.range.after ?? null,
      through: scope?.range.through ?? null,
      // Under maxDocuments a range evaluates at most the documents it was planned with, so a planned run never exceeds it.
      limitTo: checkpointOptions.maxDocuments === null ? null : (scope?.range.documents ?? checkpointOptions.maxDocuments),
      rangeDocuments: scope?.range.documents,
      signal,
      shouldStop: scope?.shouldStop,
      onLastPageRead: scope?.onLastPageRead,
      firstPage: scope?.firstPage,
      throttle: options.throttle,
      onProgress: progressOf(options.onProgress, backfiller.logger, 'statement backfill'),
    });
  });
}
