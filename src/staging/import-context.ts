/**
 * What an import runs on: the importer's config resolved once by its
 * constructor, and each call's options resolved once into a frozen run
 * context that every step of the import receives.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { ReadDatasetOptions } from '../dataset/types.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { progressOf, type ProgressReporter } from '../_internals/progress.js';
import { isSha256Hex } from '../_internals/sha256-hex.js';
import {
  DEFAULT_COPY_BATCH_BYTES,
  DEFAULT_MAX_DUPLICATE_RETRIES,
  DEFAULT_ON_INVALID,
  DEFAULT_REJECT_SUFFIX,
  DEFAULT_STAGING_PROGRESS_EVERY_ROWS,
  DEFAULT_STAGING_STRATEGY,
} from './defaults.js';
import type { RescanContext } from './line-check.js';
import type { ImportOptions, ImportProgress, OnInvalid } from './staging-importer.js';
import type { StagingStrategy, StagingTarget } from './staging-target.js';

/** One member and the table it loads into. */
export interface MemberSpec {
  readonly member: string;
  readonly table: string;
}

/** What the importer's constructor resolved: the same for every import. */
export interface ImporterContext {
  readonly target: StagingTarget;
  readonly specs: readonly MemberSpec[];
  readonly idField: string | undefined;
  readonly maxIdBytes: number | undefined;
  readonly idKey: RescanContext['idKey'];
  readonly logger: Logger | undefined;
}

/** Everything one import needs, resolved once from the importer's context and the call's options. */
export interface RunContext extends ImporterContext, RescanContext {
  readonly dryRun: boolean;
  readonly strategy: StagingStrategy;
  readonly onInvalid: OnInvalid;
  readonly rejectPath: string;
  readonly batchBytes: number;
  readonly progressEveryRows: number;
  readonly maxDuplicateRetries: number;
  readonly expectedSha256: string | undefined;
  readonly signal: AbortSignal | undefined;
  /** Member digests always on: every member is checked against the manifest's `sha256`. */
  readonly reader: ReadDatasetOptions & { readonly memberDigests: true };
  /** The caller's `onProgress`, which cannot throw (a no-op when none was given). */
  readonly onProgress: ProgressReporter<ImportProgress>;
  /** `process.hrtime.bigint()` when the import started. */
  readonly started: bigint;
}

function invalid(message: string): BackfillError {
  return new BackfillError('INVALID_ARGUMENT', message);
}

const READER_LIMITS = ['maxDecompressedBytes', 'maxCompressionRatio', 'maxLineBytes', 'maxEntries'] as const;

/** The reader's limits the call set (the reader checks their values). */
function readerLimits(o: ImportOptions): Pick<ReadDatasetOptions, (typeof READER_LIMITS)[number]> {
  const limits: { -readonly [K in (typeof READER_LIMITS)[number]]?: number } = {};
  for (const key of READER_LIMITS) if (o[key] !== undefined) limits[key] = o[key];
  return limits;
}

/** Checks the call's options before any file is opened, and freezes them with the importer's context. */
export function resolveRun(context: ImporterContext, path: string, o: ImportOptions): Result<Readonly<RunContext>, BackfillError> {
  if (typeof path !== 'string' || path.length === 0) return err(invalid('pass the path of a dataset tarball.'));
  const strategy = o.strategy ?? DEFAULT_STAGING_STRATEGY;
  if (strategy !== 'truncate' && strategy !== 'swap')
    return err(invalid(`strategy must be "truncate" or "swap", not ${JSON.stringify(strategy)}.`));
  const onInvalid = o.onInvalid ?? DEFAULT_ON_INVALID;
  if (onInvalid !== 'fail' && onInvalid !== 'reject')
    return err(invalid(`onInvalid must be "fail" or "reject", not ${JSON.stringify(onInvalid)}.`));
  const batchBytes = o.batchBytes ?? DEFAULT_COPY_BATCH_BYTES;
  const progressEveryRows = o.progressEveryRows ?? DEFAULT_STAGING_PROGRESS_EVERY_ROWS;
  const maxDuplicateRetries = o.maxDuplicateRetries ?? DEFAULT_MAX_DUPLICATE_RETRIES;
  if (!(batchBytes > 0)) return err(invalid('batchBytes must be a positive number.'));
  if (!(progressEveryRows > 0)) return err(invalid('progressEveryRows must be a positive number.'));
  if (!(maxDuplicateRetries >= 0)) return err(invalid('maxDuplicateRetries must be zero or more.'));
  // Checked now, not after a whole import that could never match.
  if (o.expectedSha256 !== undefined && !isSha256Hex(o.expectedSha256))
    return err(invalid(`expectedSha256 must be 64 hexadecimal digits, got ${JSON.stringify(o.expectedSha256)}.`));
  const signal = o.signal;
  const logger = loggerOf(o.logger, context.logger);
  return ok(
    Object.freeze({
      ...context,
      path,
      dryRun: o.dryRun === true,
      strategy,
      onInvalid,
      rejectPath: o.rejectPath ?? `${path}${DEFAULT_REJECT_SUFFIX}`,
      batchBytes,
      progressEveryRows,
      maxDuplicateRetries,
      expectedSha256: o.expectedSha256,
      reader: Object.freeze({
        memberDigests: true,
        ...(signal === undefined ? {} : { signal }),
        ...readerLimits(o),
      }),
      signal,
      logger,
      onProgress: progressOf(o.onProgress, logger, 'staging import'),
      started: process.hrtime.bigint(),
    }),
  );
}
