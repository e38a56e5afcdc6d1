/**
 * `retention`: plan which managed partitions expired, and drop or detach them.
 *
 * @internal
 * @module
 */
import type { BackfillError } from '../errors.js';
import { pgErrorToBackfill, type PgClientLike } from '../_internals/pg.js';
import { readSnapshot, type Snapshot } from './catalog.js';
import { runDdl, withAdvisoryLock, withSessionLockTimeout } from './ddl.js';
import { addIntervals, floorToInterval } from './interval.js';
import type { ManagerContext, RetentionPlanOptions } from './options.js';
import { inParentSchema, throwIfAborted } from './slots.js';
import * as sql from './sql.js';
import type { PartitionInfo, RetentionCandidate, RetentionOptions, RetentionReport } from './types.js';

/** What one `retention` call works with. */
export interface RetentionRun {
  readonly client: PgClientLike;
  readonly ctx: ManagerContext;
  readonly plan: RetentionPlanOptions;
  readonly call: RetentionOptions;
}

/** What `retention` has done so far: the plan, with `done` set on each candidate carried out. */
export interface RetentionProgress {
  report: RetentionReport | undefined;
}

function planRetention(run: RetentionRun, snap: Snapshot): RetentionReport {
  const { ctx, plan } = run;
  const cutoff = addIntervals(floorToInterval(ctx.now(), ctx.interval), ctx.interval, -plan.keep);
  const expired = (p: PartitionInfo): p is PartitionInfo & { from: Date; to: Date } =>
    p.managed && p.to !== null && p.from !== null && p.to.getTime() <= cutoff.getTime();
  // PostgreSQL refuses DETACH … CONCURRENTLY while another partition of the parent is detach pending.
  const stuck = snap.partitions.some((p) => p.detachPending && !expired(p));
  return {
    dryRun: plan.dryRun,
    mode: plan.mode,
    cutoff,
    candidates: snap.partitions.filter(expired).map((p) => ({
      name: p.name,
      from: p.from,
      to: p.to,
      estimatedRows: p.estimatedRows,
      sizeBytes: p.sizeBytes,
      action: plan.mode,
      concurrently: plan.concurrently && snap.defaultPartition === undefined && !stuck,
      done: false,
    })),
    ignored: snap.partitions.filter((p) => !p.managed).map((p) => ({ name: p.name, reason: p.reason ?? '' })),
  };
}

/** The plan; unless it is a dry run, carried out under the parent's advisory lock, one partition at a time. */
export async function applyRetention(run: RetentionRun, progress: RetentionProgress): Promise<RetentionReport> {
  const { client, ctx, plan, call } = run;
  const snapshot = (): Promise<Snapshot> => readSnapshot(client, ctx.parent, ctx.column, ctx.interval, ctx.lockTimeoutMs);
  if (plan.dryRun) return planRetention(run, await snapshot());
  return withAdvisoryLock(client, ctx.parent, ctx.advisoryLockTimeoutMs, async () => {
    const snap = await snapshot();
    const report = planRetention(run, snap);
    const candidates: RetentionCandidate[] = [...report.candidates];
    const logger = call.logger ?? ctx.logger;
    let refused: BackfillError | undefined;
    for (const [i, c] of candidates.entries()) {
      progress.report = { ...report, candidates: [...candidates] };
      throwIfAborted(call.signal, { partition: c.name });
      const pending = snap.partitions.find((p) => p.name === c.name)?.detachPending === true;
      try {
        await expire(client, ctx, c, pending);
      } catch (error) {
        const failure = pgErrorToBackfill(error, { partition: c.name }, `retention ${c.action} ${c.name}`);
        // One partition PostgreSQL refuses to drop (a view or a foreign key depends on it) must not keep
        // every later expired one: go on, and fail with it at the end. A lock timeout or a lost connection stops here.
        if (failure.code !== 'DB_ERROR') throw failure;
        refused ??= failure;
        continue;
      }
      candidates[i] = { ...c, done: true };
      logger.info(`partition ${plan.mode === 'drop' ? 'dropped' : 'detached'}`, {
        partition: c.name,
        to: c.to.toISOString(),
        cutoff: report.cutoff.toISOString(),
      });
      call.onProgress?.({ phase: plan.mode, partition: c.name, done: i + 1, total: candidates.length });
    }
    progress.report = { ...report, candidates };
    if (refused !== undefined) throw refused;
    return { ...report, candidates };
  });
}

async function expire(client: PgClientLike, ctx: ManagerContext, c: RetentionCandidate, detachPending: boolean): Promise<void> {
  const child = inParentSchema(ctx, c.name);
  if (detachPending) {
    await runDdl(client, ctx.lockTimeoutMs, sql.detachPartition(ctx.parent.sql, child, ' FINALIZE'));
  } else if (c.concurrently) {
    // CONCURRENTLY refuses to run in a transaction block, so SET LOCAL cannot apply.
    await withSessionLockTimeout(client, ctx.lockTimeoutMs, () =>
      client.query(sql.detachPartition(ctx.parent.sql, child, ' CONCURRENTLY')),
    );
  } else if (c.action === 'detach') {
    await runDdl(client, ctx.lockTimeoutMs, sql.detachPartition(ctx.parent.sql, child, ''));
  }
  if (c.action === 'drop') await runDdl(client, ctx.lockTimeoutMs, sql.dropTable(child));
}
