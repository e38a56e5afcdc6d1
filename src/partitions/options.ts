/**
 * The manager's config and each call's options, resolved and validated once
 * into frozen contexts that the operations read.
 *
 * @internal
 * @module
 */
import { err, ok, type Result, safeTry } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { milliseconds } from '../_internals/milliseconds.js';
import { noProgress, type ProgressReporter } from '../_internals/progress.js';
import { parseQualifiedName, quoteIdent, validateIdentifier, type QualifiedName } from '../_internals/sql-identifier.js';
import {
  DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS,
  DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS,
  DEFAULT_PARTITIONS_AHEAD,
  DEFAULT_PARTITIONS_BEHIND,
  DEFAULT_PARTITION_CREATE_BATCH,
  DEFAULT_PARTITION_MAX_CREATE,
  DEFAULT_RETENTION_DRY_RUN,
  DEFAULT_RETENTION_KEEP,
  DEFAULT_PARTITION_LOCK_TIMEOUT_MS,
  DEFAULT_RETENTION_MODE,
  MAX_INTERVAL_COUNT,
} from './defaults.js';
import { PARTITION_INTERVALS, type PartitionInterval } from './interval.js';
import type { EnsureOptions, MaintainOptions, PartitionManagerConfig, PartitionProgress, RetentionOptions } from './types.js';

/** The longest suffix any interval writes (`_YYYY_MM_DD`). */
const LONGEST_SUFFIX = 11;

/** The manager's config, resolved: what every operation starts from. */
export interface ManagerContext {
  readonly parent: QualifiedName;
  readonly column: string;
  /** The partition column, quoted. */
  readonly columnSql: string;
  readonly interval: PartitionInterval;
  readonly now: () => Date;
  /** The caller gave `now` (a test, a back-dated run): it is taken as meant and not compared with the database's clock. */
  readonly clockGiven: boolean;
  /** How far the host's clock may be from the database's before `retention` refuses. */
  readonly maxClockSkewMs: number;
  readonly lockTimeoutMs: number;
  readonly advisoryLockTimeoutMs: number;
  readonly logger: Logger;
  /** The call's `onProgress`, which cannot throw; a no-op outside a call given one. */
  readonly onProgress: ProgressReporter<PartitionProgress>;
  /** `schema.table`, for messages and error context. */
  readonly table: string;
}

/**
 * `INVALID_ARGUMENT`. Typed with no partial result, so it fits the error
 * type of every operation: a bad option stops a call before any step.
 */
export function invalid(message: string, context: BackfillErrorContext = {}): BackfillError<never> {
  return new BackfillError<never>('INVALID_ARGUMENT', message, { context });
}

function count(value: unknown, name: string, fallback: number): Result<number, BackfillError<never>> {
  const v = value ?? fallback;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_INTERVAL_COUNT
    ? ok(v)
    : err(invalid(`${name} must be an integer from 0 to ${MAX_INTERVAL_COUNT}; got ${String(value)}.`));
}

function flag(value: unknown, name: string, fallback: boolean): Result<boolean, BackfillError<never>> {
  const v = value ?? fallback;
  return typeof v === 'boolean' ? ok(v) : err(invalid(`${name} must be true or false; got ${String(value)}.`));
}

/**
 * The clock, refusing what gives no instant: an Invalid Date (`new
 * Date(process.env.NOW)` with `NOW` unset) would make `ensure` and
 * `retention` plan nothing, day after day, and say nothing. A bad `Date` is
 * refused with the config; a function's result each time it is read
 * (`INVALID_ARGUMENT`, thrown inside the call, before any step).
 */
function clock(now: PartitionManagerConfig['now']): Result<() => Date, BackfillError<never>> {
  const valid = (d: unknown): d is Date => d instanceof Date && !Number.isNaN(d.getTime());
  if (now === undefined) return ok(() => new Date());
  if (typeof now === 'function') {
    return ok(() => {
      const d: unknown = now();
      if (valid(d)) return d;
      throw invalid(
        `now() must return a valid Date; it returned ${d instanceof Date ? 'an Invalid Date' : String(d)}. Nothing was changed.`,
      );
    });
  }
  const given: unknown = now;
  return valid(given)
    ? ok(() => given)
    : err(
        invalid(`now must be a valid Date or a function returning one; got ${given instanceof Date ? 'an Invalid Date' : String(given)}.`),
      );
}

/** Validates the config once: `INVALID_IDENTIFIER` or `INVALID_ARGUMENT` when it is bad. */
export function resolveConfig(config: PartitionManagerConfig): Result<Readonly<ManagerContext>, BackfillError<never>> {
  if (typeof config !== 'object' || config === null) return err(invalid('The PartitionManager needs a configuration object.'));
  return safeTry(function* () {
    const parent = yield* parseQualifiedName(config.table).mapErr((e) => e.withoutPartial());
    const column = yield* validateIdentifier(config.column, 'partition column').mapErr((e) => e.withoutPartial());
    const interval = config.interval ?? 'month';
    if (!PARTITION_INTERVALS.includes(interval))
      return err(invalid(`interval must be one of ${PARTITION_INTERVALS.join(', ')}; got ${String(config.interval)}.`));
    if (Buffer.byteLength(parent.name) + LONGEST_SUFFIX > 63) {
      return err(
        new BackfillError<never>('INVALID_IDENTIFIER', `table name ${parent.name} leaves no room for a partition suffix within 63 bytes.`),
      );
    }
    const lockTimeoutMs = yield* milliseconds(config.lockTimeoutMs, 'lockTimeoutMs', DEFAULT_PARTITION_LOCK_TIMEOUT_MS);
    const now = yield* clock(config.now);
    const advisoryLockTimeoutMs = yield* milliseconds(
      config.advisoryLockTimeoutMs,
      'advisoryLockTimeoutMs',
      DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS,
    );
    const maxClockSkewMs = yield* milliseconds(config.maxClockSkewMs, 'maxClockSkewMs', DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS);
    return ok(
      Object.freeze({
        parent,
        column,
        columnSql: quoteIdent(column),
        interval,
        now,
        clockGiven: config.now !== undefined,
        maxClockSkewMs,
        lockTimeoutMs,
        advisoryLockTimeoutMs,
        logger: loggerOf(config.logger),
        onProgress: noProgress,
        table: `${parent.schema}.${parent.name}`,
      }),
    );
  });
}

/** {@link EnsureOptions}, resolved. */
export interface EnsurePlanOptions {
  readonly ahead: number;
  readonly behind: number;
  readonly batchSize: number;
  readonly fillGaps: boolean;
  readonly maxCreate: number;
}

export function resolveEnsure(options: EnsureOptions): Result<Readonly<EnsurePlanOptions>, BackfillError<never>> {
  return safeTry(function* () {
    const ahead = yield* count(options.ahead, 'ahead', DEFAULT_PARTITIONS_AHEAD);
    const behind = yield* count(options.behind, 'behind', DEFAULT_PARTITIONS_BEHIND);
    const batchSize = Math.max(1, yield* count(options.batchSize, 'batchSize', DEFAULT_PARTITION_CREATE_BATCH));
    const fillGaps = yield* flag(options.fillGaps, 'fillGaps', false);
    const maxCreate = yield* count(options.maxCreate, 'maxCreate', DEFAULT_PARTITION_MAX_CREATE);
    if (maxCreate < 1) return err(invalid('maxCreate must be at least 1; got 0.'));
    return ok(Object.freeze({ ahead, behind, batchSize, fillGaps, maxCreate }));
  });
}

/** {@link RetentionOptions}, resolved. */
export interface RetentionPlanOptions {
  readonly keep: number;
  readonly dryRun: boolean;
  readonly mode: 'drop' | 'detach';
  readonly concurrently: boolean;
}

export function resolveRetention(options: RetentionOptions): Result<Readonly<RetentionPlanOptions>, BackfillError<never>> {
  return safeTry(function* () {
    const keep = yield* count(options.keep, 'keep', DEFAULT_RETENTION_KEEP);
    const dryRun = yield* flag(options.dryRun, 'dryRun', DEFAULT_RETENTION_DRY_RUN);
    const mode = options.mode ?? DEFAULT_RETENTION_MODE;
    if (mode !== 'drop' && mode !== 'detach') return err(invalid(`mode must be "drop" or "detach"; got ${String(options.mode)}.`));
    return ok(Object.freeze({ keep, dryRun, mode, concurrently: options.concurrently === true }));
  });
}

/** The steps of one `maintain` call, in the order they run. */
export type MaintainStep = 'vacuum' | 'analyze' | 'reindex';

/** {@link MaintainOptions}, resolved. */
export interface MaintainPlan {
  readonly steps: readonly MaintainStep[];
  /** VACUUM runs as `VACUUM (ANALYZE)`. */
  readonly analyze: boolean;
  readonly concurrently: boolean;
}

export function resolveMaintain(options: MaintainOptions): Result<Readonly<MaintainPlan>, BackfillError<never>> {
  const vacuum = options.vacuum ?? true;
  const analyze = options.analyze ?? true;
  const reindex = options.reindex ?? false;
  if (!vacuum && !analyze && !reindex) return err(invalid('maintain needs at least one of vacuum, analyze or reindex.'));
  // VACUUM (ANALYZE) does both; a separate ANALYZE runs only without VACUUM.
  const steps: MaintainStep[] = [];
  if (vacuum) steps.push('vacuum');
  else if (analyze) steps.push('analyze');
  if (reindex) steps.push('reindex');
  return ok(Object.freeze({ steps: Object.freeze(steps), analyze, concurrently: options.concurrently ?? true }));
}
