/**
 * `retention`: plan which managed partitions expired, and drop or detach them.
 *
 * @internal
 * @module
 */
import { BackfillError } from '../errors.js';
import { pgErrorToBackfill, type PgClientLike, type PgQueryResult } from '../_internals/pg.js';
import { readSnapshot, type Snapshot } from './catalog.js';
import {
  commentOf,
  type DdlStop,
  foreignKeyReferences,
  keysReferencingTable,
  runDdl,
  runDdlUnlessAborted,
  sizesWithin,
  withAdvisoryLock,
  withSessionLockTimeout,
} from './ddl.js';
import { addIntervals, floorToInterval, parsePartitionSuffix } from './interval.js';
import type { ManagerContext, RetentionPlanOptions } from './options.js';
import { refuseSkewedClock } from './clock.js';
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

/** The parent's partitions, and the tables an earlier drop run detached but did not drop. */
interface RetentionState {
  readonly snap: Snapshot;
  readonly detached: readonly PartitionInfo[];
}

/**
 * The plain tables of the parent's schema that an earlier drop run marked
 * and detached but did not drop (stopped in between, or its DROP refused),
 * named by the naming rule so their slot can be checked against the cutoff.
 */
async function detachedToDrop(client: PgClientLike, ctx: ManagerContext): Promise<PartitionInfo[]> {
  const { rows } = (await client.query(sql.detachedToDrop, [
    ctx.parent.schema,
    sql.DETACHED_TO_DROP,
    sql.MARK_SEPARATOR,
  ])) as PgQueryResult<{
    name: string;
    estimated_rows: number;
  }>;
  return rows.flatMap((r) => {
    const from = r.name.startsWith(ctx.parent.name) ? parsePartitionSuffix(r.name.slice(ctx.parent.name.length), ctx.interval) : undefined;
    if (from === undefined) return [];
    return [
      {
        schema: ctx.parent.schema,
        name: r.name,
        sql: inParentSchema(ctx, r.name),
        from,
        to: addIntervals(from, ctx.interval, 1),
        bound: '',
        isDefault: false,
        managed: true,
        estimatedRows: r.estimated_rows < 0 ? null : r.estimated_rows,
        sizeBytes: 0,
        detachPending: false,
      },
    ];
  });
}

function planRetention(run: RetentionRun, { snap, detached }: RetentionState): RetentionReport {
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
    candidates: [...(plan.mode === 'drop' ? detached : []), ...snap.partitions].filter(expired).map((p) => ({
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

/**
 * The plan with each candidate's size, read for the candidates alone (all
 * in the parent's schema, partitions and tables an earlier drop run left),
 * all in one round trip: sizing waits for DDL's locks, and a lock on a
 * table retention does not touch must not stop it. A locked candidate is
 * `LOCK_TIMEOUT` naming it: its DROP would wait for it too.
 */
async function sized(client: PgClientLike, ctx: ManagerContext, report: RetentionReport): Promise<RetentionReport> {
  const tables = report.candidates.map((c) => ({ schema: ctx.parent.schema, name: c.name, sql: inParentSchema(ctx, c.name) }));
  const sizes = await sizesWithin(client, tables, ctx.lockTimeoutMs, 'retention');
  return { ...report, candidates: report.candidates.map((c, i): RetentionCandidate => ({ ...c, sizeBytes: sizes[i] ?? 0 })) };
}

/** The plan; unless it is a dry run, carried out under the parent's advisory lock, one partition at a time. */
export async function applyRetention(run: RetentionRun, progress: RetentionProgress): Promise<RetentionReport> {
  const { client, ctx, plan, call } = run;
  const read = async (): Promise<RetentionState> => ({
    snap: await readSnapshot(client, ctx.parent, ctx.column, ctx.interval, ctx.lockTimeoutMs),
    detached: await detachedToDrop(client, ctx),
  });
  await refuseSkewedClock(client, ctx, 'retention');
  if (plan.dryRun) {
    const state = await read();
    return sized(client, ctx, planRetention(run, state));
  }
  return withAdvisoryLock(client, ctx.parent, ctx.advisoryLockTimeoutMs, async () => {
    const state = await read();
    const report = await sized(client, ctx, planRetention(run, state));
    const candidates: RetentionCandidate[] = [...report.candidates];
    const { logger } = ctx;
    const referenced = candidates.length > 0 && (await foreignKeyReferences(client, ctx.parent.sql));
    let refused: BackfillError | undefined;
    for (const [i, c] of candidates.entries()) {
      progress.report = { ...report, candidates: [...candidates] };
      throwIfAborted(call.signal, { partition: c.name });
      // The candidate itself, in the parent's schema: a partition of the same name in another schema is another table.
      const part = state.snap.partitions.find((p) => p.schema === ctx.parent.schema && p.name === c.name);
      try {
        await expire(client, ctx, c, part === undefined ? 'detached' : part.detachPending ? 'pending' : 'attached', {
          signal: call.signal,
          referenced,
        });
      } catch (error) {
        const failure = await refusalExplained(
          client,
          ctx,
          c,
          pgErrorToBackfill(error, { partition: c.name }, `retention ${c.action} ${c.name}`),
        );
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
      ctx.onProgress({ phase: plan.mode, partition: c.name, done: i + 1, total: candidates.length });
    }
    progress.report = { ...report, candidates };
    if (refused !== undefined) throw refused;
    return { ...report, candidates };
  });
}

/** SQLSTATE foreign_key_violation: a detach of a partition whose rows a foreign key still references. */
const FOREIGN_KEY_VIOLATION = '23503';
/** SQLSTATE dependent_objects_still_exist: a DROP of a partition that a view (or another object) depends on. */
const DEPENDENT_OBJECTS = '2BP01';
/** SQLSTATE deadlock_detected: PostgreSQL ended this step to let another session go on. */
const DEADLOCK = '40P01';

/**
 * A detach or DROP PostgreSQL refused because of what depends on the
 * partition (rows of another table that still reference its rows, a view
 * over it), told what depends on it and what to do: the partition stays,
 * with its rows, until that is gone. Any other error as it is.
 */
async function refusalExplained(
  client: PgClientLike,
  ctx: ManagerContext,
  c: RetentionCandidate,
  failure: BackfillError,
): Promise<BackfillError> {
  const next = `the next retention run ${c.action === 'drop' ? 'drops' : 'detaches'} it`;
  let note: string;
  if (failure.dbCode === FOREIGN_KEY_VIOLATION) {
    const keys = await keysReferencingTable(client, inParentSchema(ctx, c.name)).catch(() => []);
    const by = keys.length === 0 ? '' : ` (${keys.map((k) => `${k.referencing} through ${k.name}`).join(', ')})`;
    note =
      `Rows of another table${by} still reference rows of ${c.name}, so it stays attached with its rows; the other expired partitions went on. ` +
      `Delete those referencing rows (or point them elsewhere), and ${next}.`;
  } else if (failure.dbCode === DEPENDENT_OBJECTS) {
    const what = typeof failure.detail === 'string' && failure.detail !== '' ? `: ${failure.detail.split('\n').join('; ')}` : '';
    note =
      `Other objects depend on ${c.name}${what}. It stays, with its rows; the other expired partitions went on. ` +
      `Drop those objects or redefine them without it (a view can read ${ctx.table} instead), and ${next}; ` +
      `or, to keep it, rename it off the naming rule (ALTER TABLE ${inParentSchema(ctx, c.name)} RENAME TO ${c.name}_kept), which retention ignores. ` +
      'Not DROP … CASCADE, which drops those objects with it.';
  } else if (failure.dbCode === DEADLOCK) {
    note =
      `Another session held ${ctx.table} and then needed ${c.name}, which this run had locked to ${c.action} it: PostgreSQL ended this step so that session could go on. ` +
      `${c.name} stays, with its rows; the other expired partitions went on, and ${next}.`;
  } else {
    return failure;
  }
  return new BackfillError(failure.code, `${failure.message}. ${note}`, {
    cause: failure.cause,
    context: failure.context,
    ...(failure.dbCode === undefined ? {} : { dbCode: failure.dbCode }),
    detail: failure.detail,
  });
}

/**
 * Detaches (finalizing a pending detach) and, in drop mode, drops. When the
 * detach commits before the DROP, the partition is marked first, so a run
 * stopped in between leaves a table the next drop run finds and drops; the
 * mark is appended to the partition's own comment, which a refused DROP
 * therefore leaves in place. A detach-mode run takes off a mark a killed
 * drop run left, so no later drop run takes the table it keeps. On a
 * table a foreign key references, a drop run detaches each partition in
 * the DROP's transaction: PostgreSQL refuses to drop a partition of such a
 * table, while the detach lets one go that no row references.
 */
async function expire(
  client: PgClientLike,
  ctx: ManagerContext,
  c: RetentionCandidate,
  state: 'attached' | 'pending' | 'detached',
  { signal, referenced }: { readonly signal: AbortSignal | undefined; readonly referenced: boolean },
): Promise<void> {
  const child = inParentSchema(ctx, c.name);
  const drop = c.action === 'drop';
  // Each step's lock may wait for a reader: a signal meanwhile stops that step before its COMMIT.
  const stop = (notDone: string): DdlStop => ({ signal, partition: c.name, notDone });
  // DROP and DETACH lock the parent first, then the partition: a session holding the partition (a long query on
  // that month, an anti-wraparound VACUUM of it) would make them hold the parent, which every read and write through
  // it needs, for as long as they wait. Taking the partition first, they wait holding nothing of the parent.
  const lockFirst = sql.lockExclusive(child);
  // An attached partition a drop run drops at once needs no detach, and no mark.
  if (state === 'pending' || (state === 'attached' && (c.concurrently || !drop))) {
    const note = await commentOf(client, child);
    const comment = drop ? sql.markedComment(note) : sql.unmarkedComment(note);
    const recomment = comment === note ? [] : [sql.commentOnTable(child, comment)];
    if (c.concurrently && state === 'attached') {
      if (recomment.length > 0) await runDdl(client, ctx.lockTimeoutMs, ...recomment);
      await detachConcurrently(client, ctx, c, drop ? sql.unmarkedComment(note) : undefined);
    } else {
      // A detach left pending (by a failed CONCURRENTLY) is finished, whatever this run's `concurrently`.
      const finish = state === 'pending' ? ' FINALIZE' : '';
      await runDdlUnlessAborted(
        client,
        ctx.lockTimeoutMs,
        stop(`${c.name} was not detached`),
        lockFirst,
        ...recomment,
        sql.detachPartition(ctx.parent.sql, child, finish),
      );
    }
  }
  if (!drop) return;
  // PostgreSQL refuses DROP TABLE of any partition of a table a foreign key references, referenced rows or not;
  // a detach checks the rows instead, so such a partition is detached and dropped in one transaction.
  const detachFirst = referenced && state === 'attached' && !c.concurrently ? [sql.detachPartition(ctx.parent.sql, child, '')] : [];
  await runDdlUnlessAborted(client, ctx.lockTimeoutMs, stop(`${c.name} was not dropped`), lockFirst, ...detachFirst, sql.dropTable(child));
}

/**
 * `DETACH … CONCURRENTLY`; when it fails, the partition gets `own` back as
 * its comment (unless `undefined`). A failure after the first phase
 * committed leaves the partition detach pending; the error then says so and
 * how it gets finished.
 */
async function detachConcurrently(
  client: PgClientLike,
  ctx: ManagerContext,
  c: RetentionCandidate,
  own: string | null | undefined,
): Promise<void> {
  const child = inParentSchema(ctx, c.name);
  const mark = c.action === 'drop';
  try {
    // CONCURRENTLY refuses to run in a transaction block, so SET LOCAL cannot apply.
    await withSessionLockTimeout(client, ctx.lockTimeoutMs, () =>
      client.query(sql.detachPartition(ctx.parent.sql, child, ' CONCURRENTLY')),
    );
  } catch (error) {
    const pending = await Promise.resolve(client.query(sql.isDetachPending, [child])).then(
      (r: PgQueryResult<{ pending: boolean }>) => r.rows[0]?.pending === true,
      () => undefined,
    );
    // It gets its own comment back, so a later detach by hand never leaves a table marked for dropping; a pending
    // detach that the next drop run finishes is marked again in the FINALIZE's transaction.
    if (own !== undefined) await runDdl(client, ctx.lockTimeoutMs, sql.commentOnTable(child, own)).catch(() => undefined);
    if (pending !== true) throw error;
    const failure = pgErrorToBackfill(error, { partition: c.name }, `retention ${c.action} ${c.name}`);
    throw new BackfillError(
      failure.code,
      `${failure.message}. ${c.name} is now detach pending (the first phase of DETACH … CONCURRENTLY committed): rows of its range no longer reach it, and PostgreSQL refuses other concurrent detaches on ${ctx.table} until it is finished. ` +
        `The next retention run finishes it${mark ? ' and drops it' : ''}; or finish it now with ALTER TABLE ${ctx.parent.sql} DETACH PARTITION ${child} FINALIZE${mark ? ', then DROP TABLE it' : ''}.`,
      {
        cause: error,
        context: failure.context,
        ...(failure.dbCode === undefined ? {} : { dbCode: failure.dbCode }),
        detail: failure.detail,
      },
    );
  }
}
