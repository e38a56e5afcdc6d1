import { type Result, ResultAsync } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import { loggerOf } from '../_internals/logger.js';
import { progressOf } from '../_internals/progress.js';
import { PgHandle, pgErrorToBackfill, type PgClientLike } from '../_internals/pg.js';
import { parseQualifiedName } from '../_internals/sql-identifier.js';
import { attachTable, restoredSlot } from './attach.js';
import { CASE_SENSITIVE, caseTwin, readSnapshot } from './catalog.js';
import { inDdlTransaction, namingLockHolders } from './ddl.js';
import { ensureWindow, type EnsureProgress } from './ensure.js';
import { floorToInterval } from './interval.js';
import { maintainPartition, type MaintainProgress } from './maintain.js';
import { invalid, type ManagerContext, resolveConfig, resolveEnsure, resolveMaintain, resolveRetention } from './options.js';
import { parentStatements } from './parent-ddl.js';
import { applyRetention, type RetentionProgress } from './retention.js';
import { slotAt } from './slots.js';
import type {
  AttachReport,
  CreateParentOptions,
  EnsureOptions,
  EnsureReport,
  MaintainOptions,
  MaintainPartial,
  MaintainReport,
  PartitionCallOptions,
  PartitionInfo,
  PartitionManagerConfig,
  PartitionSlot,
  RetentionOptions,
  RetentionReport,
} from './types.js';

/** `ctx` with the logger one call was given in place of the manager's, and the call's `onProgress` (`what` names the call in its warning). */
function forCall(ctx: ManagerContext, call: PartitionCallOptions, what: string): ManagerContext {
  const logger = call.logger === undefined ? ctx.logger : loggerOf(call.logger);
  return { ...ctx, logger, onProgress: progressOf(call.onProgress, logger, `partitions ${what}`) };
}

/**
 * Keeps a range-partitioned PostgreSQL table's partitions ahead of time,
 * enforces retention with a dry run, re-attaches restored partitions and
 * maintains one partition at a time (the partition runbook as an API).
 *
 * Partitions are named `<parent>_YYYY_MM` (days `_YYYY_MM_DD`, ISO weeks
 * `_YYYY_Www`, years `_YYYY`) with bounds `[start, next start)` in UTC.
 * Only partitions whose name and bounds both follow that rule are ever
 * dropped or detached.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { PartitionManager } from '@stella/backfill-kit/partitions';
 *
 * const pool = new pg.Pool({ connectionString: process.env.PGURI });
 * const boms = new PartitionManager({ pg: pool, table: 'scanner.artifact_boms', column: 'inserted_at', interval: 'month' });
 * const ensured = await boms.ensure({ ahead: 1 });
 * if (ensured.isErr()) throw ensured.error;
 * const plan = await boms.retention({ keep: 12, dryRun: true });
 * if (plan.isErr()) throw plan.error;
 * console.log(plan.value.candidates.map((c) => c.name));
 * ```
 */
export class PartitionManager {
  readonly #pg: PgHandle;
  readonly #context: Result<Readonly<ManagerContext>, BackfillError<never>>;

  /**
   * Resolves and validates the config once, into a frozen context. A bad
   * config does not throw: every method then returns the error
   * (`INVALID_IDENTIFIER` or `INVALID_ARGUMENT`).
   */
  constructor(config: PartitionManagerConfig) {
    // A caller without types may pass nothing: the config check below reports it, the handle must not throw first.
    this.#pg = new PgHandle(config?.pg);
    this.#context = resolveConfig(config);
  }

  /**
   * The slot (name and bounds) that holds `at`, or the config error.
   *
   * @example
   * ```ts
   * const slot = boms.slotFor(new Date('2026-11-23T15:00:00Z'));
   * if (slot.isOk()) console.log(slot.value.name); // artifact_boms_2026_11, [2026-11-01, 2026-12-01)
   * ```
   */
  slotFor(at: Date): Result<PartitionSlot, BackfillError> {
    return this.#context.map((ctx) => slotAt(ctx, floorToInterval(at, ctx.interval)));
  }

  /**
   * Runs `fn` on a dedicated connection. Any failure becomes a
   * `BackfillError` whose `partial` is what `done()` says finished, if anything.
   */
  #run<T, P = never>(
    ctx: ManagerContext,
    what: string,
    fn: (client: PgClientLike) => Promise<T>,
    done: () => P | undefined = () => undefined,
  ): ResultAsync<T, BackfillError<P>> {
    const withHolders = async (client: PgClientLike): Promise<T> => {
      try {
        return await fn(client);
      } catch (e) {
        // Whom a lock timeout waited for, asked on the same connection before it goes back.
        const error = pgErrorToBackfill(e, { table: ctx.table }, `${what} ${ctx.table}`);
        throw await namingLockHolders(client, ctx.parent, error);
      }
    };
    return ResultAsync.fromPromise(this.#pg.withClient(withHolders), (e) => {
      const error = pgErrorToBackfill(e, { table: ctx.table }, `${what} ${ctx.table}`);
      const partial = done();
      return partial === undefined ? error.withoutPartial() : error.withPartial(partial);
    });
  }

  /**
   * Every partition with its bounds, estimated rows, size and whether it
   * follows the naming rule, from a single catalog query.
   *
   * @example
   * ```ts
   * const partitions = await boms.list();
   * if (partitions.isErr()) throw partitions.error;
   * for (const p of partitions.value) console.log(p.name, p.from, p.to, p.managed);
   * ```
   */
  list(): ResultAsync<PartitionInfo[], BackfillError> {
    return this.#context.asyncAndThen((ctx) =>
      this.#run(ctx, 'list', async (client) => [
        ...(await readSnapshot(client, ctx.parent, ctx.column, ctx.interval, ctx.lockTimeoutMs, true)).partitions,
      ]),
    );
  }

  /**
   * Creates the current partition, `ahead` future ones and `behind` past ones;
   * with `fillGaps`, also every missing slot between the oldest managed
   * partition and that window. Idempotent; two concurrent runs serialise on
   * an advisory lock. Rows already sitting in the default partition for a
   * new slot are moved into it in the same transaction that creates it.
   *
   * Locks: each slot is made as a table shaped like the parent (`CREATE TABLE
   * … (LIKE parent …)` in the parent's tablespace, ACCESS SHARE on the
   * parent), then `ALTER TABLE parent ATTACH PARTITION`, which holds the
   * parent in SHARE UPDATE EXCLUSIVE only: its readers (ACCESS SHARE) and
   * writers (ROW EXCLUSIVE) neither stop `ensure` nor queue behind it, however
   * long their transactions. It still waits for what conflicts with that (a
   * `CREATE INDEX`, an `ANALYZE` or `VACUUM` of the parent itself, another
   * `ATTACH` or `DETACH`, an `ALTER TABLE` or `TRUNCATE` of it). With a default partition, PostgreSQL
   * also takes ACCESS EXCLUSIVE on the default partition, to prove it holds no
   * row of the new range, so a session reading the default partition (a query
   * that cannot prune it) is waited for; rows found there are moved with
   * writers paused (SHARE ROW EXCLUSIVE on the parent alone and the default
   * partition). A batch proves it once for all its slots: a CHECK
   * constraint excluding their ranges is added to the default partition
   * (one scan) and dropped before the commit, and each ATTACH skips its own
   * scan. The table and its ATTACH are one transaction, so a run that
   * ends between them, however it ends, leaves no unattached table behind.
   * In that transaction too, each new partition gets the parent's owner and
   * exactly its table privileges (PostgreSQL gives a partition neither), so
   * a role that may read the parent directly may read the partition; when
   * the owner may not create in the schema, the partition stays the running
   * role's, with the parent's privileges, and a warning is logged. A grant
   * or revoke made on the parent later never reaches its existing
   * partitions (nor does row-level security turned on later take their
   * grants back): each run logs a warning naming the managed partitions
   * whose privileges differ from the parent's, and the roles.
   *
   * A slot whose name is held by a table that is not a partition of this
   * parent (say a restored month whose attach was refused) does not stop the
   * others: every other slot is created, then the call returns
   * `PARTITION_NAME_TAKEN` naming the table, with the created slots in
   * `error.partial`. So does a slot of the window that a partition made by
   * hand partly overlaps: `PARTITION_OVERLAP`, once the others are created,
   * and a slot of the window held by a partition left detach pending (it
   * takes no rows until its detach is finalized and it is attached back).
   * A window reaching outside the years 0001–9999 (which the names hold) is
   * `INVALID_ARGUMENT`.
   *
   * @example
   * ```ts
   * const result = await boms.ensure({ ahead: 2 });
   * if (result.isErr()) throw result.error;
   * const r = result.value;
   * console.log(r.created.map((c) => c.name), r.existing.length);
   * ```
   */
  ensure(options: EnsureOptions = {}): ResultAsync<EnsureReport, BackfillError<EnsureReport>> {
    const progress: EnsureProgress = { created: [], existing: undefined };
    const done = (): EnsureReport | undefined =>
      progress.existing === undefined ? undefined : { created: [...progress.created], existing: progress.existing };
    return this.#context
      .andThen((ctx) => resolveEnsure(options).map((plan) => ({ ctx, plan })))
      .asyncAndThen(({ ctx, plan }) =>
        this.#run(
          ctx,
          'ensure',
          (client) => ensureWindow({ client, ctx: forCall(ctx, options, 'ensure'), plan, call: options }, progress),
          done,
        ),
      );
  }

  /**
   * Plans (and with `dryRun: false` carries out) retention: partitions that
   * follow the naming rule and whose upper bound is at or before the start of
   * the oldest kept interval. Look-alikes (`<parent>_backup`,
   * `<parent>_2024_13`, wrong bounds) are listed under `ignored` and never
   * touched. A drop whose detach commits first marks the partition by
   * appending to its comment (its own comment stays). A
   * `DETACH … CONCURRENTLY` that fails after its first phase says that the
   * partition is now detach pending; the next run finishes it.
   *
   * @example
   * ```ts
   * const result = await boms.retention({ keep: 12 }); // dry run
   * if (result.isErr()) throw result.error;
   * const plan = result.value;
   * for (const c of plan.candidates) console.log(c.name, c.estimatedRows, c.sizeBytes);
   * await boms.retention({ keep: 12, dryRun: false, mode: 'detach', concurrently: true });
   * ```
   */
  retention(options: RetentionOptions = {}): ResultAsync<RetentionReport, BackfillError<RetentionReport>> {
    const progress: RetentionProgress = { report: undefined };
    return this.#context
      .andThen((ctx) => resolveRetention(options).map((plan) => ({ ctx, plan })))
      .asyncAndThen(({ ctx, plan }) =>
        this.#run(
          ctx,
          'retention',
          (client) => applyRetention({ client, ctx: forCall(ctx, options, 'retention'), plan, call: options }, progress),
          () => progress.report,
        ),
      );
  }

  /**
   * Re-attaches a table restored from backup (the partition runbook's rollback step). The name
   * must follow the naming rule; every row must lie inside the bounds it
   * implies (otherwise `PARTITION_OUT_OF_RANGE` names the first offending
   * row's key). A CHECK constraint matching the bounds is added first so
   * ATTACH skips its validation scan, then dropped. PostgreSQL builds any of
   * the parent's indexes the table lacks; the report lists them.
   *
   * Runs under the same per-table advisory lock as `ensure` and `retention`,
   * so it waits for a run in progress (up to `advisoryLockTimeoutMs`, then
   * `LOCKED`, with nothing changed) instead of racing it.
   *
   * A restored month keeps its name, so it is a managed partition like any
   * other: when its range is older than what retention keeps, the next
   * retention run drops it again (or detaches it, in detach mode), with the
   * rows just restored. `attach` logs a warning naming the largest `keep`
   * that drops it (also when the month is already attached, by an earlier
   * `attach` or by hand). To keep it, rename it off the naming rule once attached
   * (`ALTER TABLE scanner.artifact_boms_2025_03 RENAME TO
   * artifact_boms_2025_03_restored`): retention then lists it under
   * `ignored` and never touches it (drop it by hand when done). Or run
   * retention with a larger `keep` for as long as it must stay.
   *
   * @example
   * ```ts
   * const r = await boms.attach('scanner.artifact_boms_2025_03');
   * if (r.isErr() && r.error.code === 'PARTITION_OUT_OF_RANGE') console.error(r.error.message);
   * ```
   */
  attach(tableName: string, options: PartitionCallOptions = {}): ResultAsync<AttachReport, BackfillError> {
    return this.#context
      .andThen((ctx) => restoredSlot(ctx, tableName).map((restored) => ({ ctx, ...restored })))
      .asyncAndThen(({ ctx, target, slot }) =>
        this.#run(ctx, 'attach', (client) => attachTable({ client, ctx: forCall(ctx, options, 'attach'), call: options, target, slot })),
      );
  }

  /**
   * VACUUM / ANALYZE / REINDEX one partition, never the parent. Every step,
   * and the sizing before and after, runs under `lock_timeout` (a partition
   * a `VACUUM FULL` or `CLUSTER` holds is `LOCK_TIMEOUT` naming the session,
   * whatever the connection's own `lock_timeout`); REINDEX runs
   * `CONCURRENTLY` by default.
   *
   * A `REINDEX … CONCURRENTLY` that fails (a lock timeout, a cancel, a lost
   * connection) leaves INVALID `<index>_ccnew` / `_ccold` indexes behind,
   * which every write keeps paying for. Each call first drops the ones it
   * finds on this partition (listed in `invalidIndexesDropped`), and a
   * failed rebuild drops its own at once when it can; when it cannot (the
   * blocking session still runs), the error names them and the fix. The
   * INVALID indexes another session is building right now (an overlapping
   * maintain's rebuild, a `CREATE INDEX CONCURRENTLY`) are its work in
   * progress, never dropped: a `LOCK_TIMEOUT` behind it names that session
   * and says to wait for it.
   *
   * @example
   * ```ts
   * await boms.maintain('artifact_boms_2026_11', { vacuum: true, analyze: true, reindex: true });
   * ```
   */
  maintain(partition: string, options: MaintainOptions = {}): ResultAsync<MaintainReport, BackfillError<MaintainPartial>> {
    const progress: MaintainProgress = { steps: [], invalidIndexesDropped: [] };
    const done = (): MaintainPartial => ({ steps: [...progress.steps], invalidIndexesDropped: [...progress.invalidIndexesDropped] });
    return this.#context
      .andThen((ctx) =>
        parseQualifiedName(partition, ctx.parent.schema)
          .mapErr((e) => e.withoutPartial())
          .andThen((target) => resolveMaintain(options).map((plan) => ({ ctx, target, plan }))),
      )
      .asyncAndThen(({ ctx, target, plan }) =>
        this.#run(
          ctx,
          'maintain',
          (client) => maintainPartition({ client, ctx: forCall(ctx, options, 'maintain'), plan, call: options, target }, progress),
          done,
        ),
      );
  }

  /**
   * Creates the partitioned parent (and its schema), for fixtures and new
   * services: `PARTITION BY RANGE (column)`, the primary key, the indexes,
   * and optionally a default partition. One transaction.
   *
   * @example
   * ```ts
   * await boms.createParent({
   *   columns: [
   *     { name: 'build_id', type: 'text', notNull: true },
   *     { name: 'canonical_bom_sha256', type: 'text', notNull: true },
   *     { name: 'inserted_at', type: 'timestamptz', notNull: true },
   *   ],
   *   primaryKey: ['build_id', 'inserted_at'],
   *   indexes: [{ columns: ['canonical_bom_sha256'] }],
   * });
   * ```
   */
  createParent(options: CreateParentOptions): ResultAsync<void, BackfillError> {
    return this.#context
      .andThen((ctx) => parentStatements(ctx, options).map((statements) => ({ ctx, statements })))
      .asyncAndThen(({ ctx, statements }) =>
        this.#run(ctx, 'createParent', async (client) => {
          // A look-alike beside the table the jobs are meant for would take its place in them.
          const twin = await caseTwin(client, ctx.parent);
          if (twin !== undefined)
            throw invalid(`${ctx.table} differs from the existing ${twin} only by case; nothing was created. ${CASE_SENSITIVE}`);
          await inDdlTransaction(client, ctx.lockTimeoutMs, async () => {
            for (const s of statements) await client.query(s);
          });
          ctx.logger.info('partitioned table created', { table: ctx.table });
        }),
      );
  }

  /**
   * Ends the pool when the manager was given a connection string; a caller's pool is left alone.
   *
   * @example
   * ```ts
   * const boms = new PartitionManager({ pg: process.env.PGURI!, table: 'scanner.artifact_boms', column: 'inserted_at' });
   * try { await boms.ensure(); } finally { await boms.close(); }
   * ```
   */
  async close(): Promise<void> {
    await this.#pg.close();
  }

  /**
   * Closes an owned pool at the end of an `await using` block.
   *
   * @example
   * ```ts
   * await using boms = new PartitionManager({ pg: process.env.PGURI!, table: 'scanner.artifact_boms', column: 'inserted_at' });
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
