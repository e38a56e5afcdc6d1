/**
 * `maintain`: VACUUM / ANALYZE / REINDEX one partition, cleaning up after
 * failed concurrent rebuilds.
 *
 * @internal
 * @module
 */
import { BackfillError } from '../errors.js';
import { pgErrorToBackfill, type PgClientLike, type PgQueryResult } from '../_internals/pg.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import { readSnapshot } from './catalog.js';
import { sizeWithin, withNote, withSessionLockTimeout } from './ddl.js';
import type { MaintainPlan, MaintainStep, ManagerContext } from './options.js';
import { throwIfAborted } from './slots.js';
import * as sql from './sql.js';
import type { MaintainOptions, MaintainPartial, MaintainReport, PartitionInfo } from './types.js';

/** What one `maintain` call works with. */
export interface MaintainRun {
  readonly client: PgClientLike;
  readonly ctx: ManagerContext;
  readonly plan: MaintainPlan;
  readonly call: MaintainOptions;
  /** The partition, as the caller named it. */
  readonly target: QualifiedName;
}

/** What `maintain` has done so far: the steps that ran and the leftover indexes dropped. */
export interface MaintainProgress extends MaintainPartial {
  readonly steps: MaintainReport['steps'][number][];
  readonly invalidIndexesDropped: string[];
}

function stepSql(plan: MaintainPlan, part: PartitionInfo, step: MaintainStep): string {
  if (step === 'vacuum') return sql.vacuum(part.sql, plan.analyze);
  if (step === 'analyze') return sql.analyze(part.sql);
  return sql.reindex(part.sql, plan.concurrently);
}

/**
 * Drops the leftovers of an earlier failed rebuild, then runs each step
 * under a session `lock_timeout`. A failed `REINDEX … CONCURRENTLY` drops
 * its own leftovers at once when it can.
 */
export async function maintainPartition(run: MaintainRun, progress: MaintainProgress): Promise<MaintainReport> {
  const { client, ctx, target } = run;
  const snap = await readSnapshot(client, ctx.parent, ctx.column, ctx.interval, ctx.lockTimeoutMs);
  const part = snap.partitions.find((p) => p.schema === target.schema && p.name === target.name);
  if (part === undefined) {
    throw new BackfillError(
      'TABLE_NOT_FOUND',
      `${target.schema}.${target.name} is not a partition of ${ctx.table}; maintain works on one partition at a time.`,
      { context: { partition: target.name } },
    );
  }
  const sizeBytesBefore = await sizeWithin(client, part, ctx.lockTimeoutMs, 'maintain');
  await withSessionLockTimeout(client, ctx.lockTimeoutMs, () => runSteps(run, part, progress)).catch(async (error: unknown) => {
    throw await namingIndexBuilders(client, part, error);
  });
  const { steps, invalidIndexesDropped } = progress;
  ctx.logger.info('partition maintained', {
    partition: part.name,
    steps: steps.map((s) => s.step),
    invalidIndexesDropped,
  });
  return {
    partition: part.name,
    steps,
    invalidIndexesDropped,
    sizeBytesBefore,
    sizeBytesAfter: await sizeWithin(client, part, ctx.lockTimeoutMs, 'maintain'),
  };
}

interface IndexBuilder {
  readonly pid: number;
  readonly app: string;
  readonly command: string;
  readonly phase: string;
  readonly since: string;
  readonly indexes: string[];
}

/**
 * A `LOCK_TIMEOUT` of maintain while another session builds indexes of the
 * partition (an overlapping maintain's `REINDEX … CONCURRENTLY`, a `CREATE
 * INDEX CONCURRENTLY` by hand), told so: the INVALID indexes it is building
 * are its work in progress, which must not be dropped, and the way out is
 * to wait for it. Any other error as it is; reading the builders is best effort.
 */
async function namingIndexBuilders(client: PgClientLike, part: PartitionInfo, error: unknown): Promise<unknown> {
  if (!(error instanceof BackfillError) || error.code !== 'LOCK_TIMEOUT') return error;
  let builders: IndexBuilder[];
  try {
    builders = ((await client.query(sql.indexBuilders, [part.sql])) as PgQueryResult<IndexBuilder>).rows;
  } catch {
    return error;
  }
  if (builders.length === 0) return error;
  const partition = `${part.schema}.${part.name}`;
  const who = builders.map((b) => {
    const what = [
      b.app === '' ? 'no application name' : `application ${JSON.stringify(b.app)}`,
      b.command,
      b.phase === '' ? '' : `phase "${b.phase}"`,
      b.since === '' ? '' : `since ${b.since}`,
    ].filter((x) => x !== '');
    return `pid ${b.pid} (${what.join(', ')})`;
  });
  const inProgress = builders.flatMap((b) => b.indexes);
  const them = inProgress.length === 1 ? 'it' : 'them';
  const building =
    inProgress.length === 0
      ? 'The indexes it builds are'
      : `The INVALID ${inProgress.length === 1 ? 'index' : 'indexes'} it is building (${inProgress.join(', ')}) ${inProgress.length === 1 ? 'is' : 'are'}`;
  const note =
    `Another session is building indexes of ${partition} right now (an overlapping maintain's REINDEX CONCURRENTLY, or a CREATE INDEX CONCURRENTLY): ${who.join('; ')}. ` +
    `${building} its work in progress, not the leftovers of a failed rebuild: do not drop ${them}. ` +
    'Wait for it to finish, then run maintain again if it is still needed.';
  return withNote(error, note, { indexBuilders: builders.map((b) => b.pid) });
}

/** Drops the leftovers of an earlier failed rebuild, then runs each step (the session's `lock_timeout` already set). */
async function runSteps(run: MaintainRun, part: PartitionInfo, progress: MaintainProgress): Promise<void> {
  const { client, ctx, plan, call } = run;
  const qualified = `${part.schema}.${part.name}`;
  const stale = await rebuildLeftovers(client, part);
  try {
    await dropIndexesConcurrently(client, part, stale, progress.invalidIndexesDropped);
  } catch (error) {
    const what = `maintain ${qualified}: dropping the invalid indexes a failed REINDEX CONCURRENTLY left`;
    throw leftoverError(error, part, what, stale, progress.invalidIndexesDropped);
  }
  const runStep = async (step: MaintainStep, text: string, advice = ''): Promise<void> => {
    const t0 = performance.now();
    try {
      await client.query(text);
    } catch (error) {
      if (step !== 'reindex' || !plan.concurrently)
        throw pgErrorToBackfill(error, { partition: part.name }, `maintain ${qualified}: ${text}`);
      // A failed concurrent rebuild leaves its half-built indexes: drop them now if the blocker is gone.
      const left = await rebuildLeftovers(client, part).catch(() => []);
      const dropped: string[] = [];
      await dropIndexesConcurrently(client, part, left, dropped).catch(() => undefined);
      progress.invalidIndexesDropped.push(...dropped);
      throw leftoverError(error, part, `maintain ${qualified}: ${text}`, left, dropped, advice);
    }
    progress.steps.push({ step, sql: text, seconds: (performance.now() - t0) / 1000 });
  };
  for (const [i, step] of plan.steps.entries()) {
    throwIfAborted(call.signal, { partition: part.name });
    await runStep(step, stepSql(plan, part, step));
    // REINDEX TABLE CONCURRENTLY skips an INVALID index (a failed CREATE INDEX CONCURRENTLY) with a mere
    // WARNING, leaving it unusable while every write still maintains it: rebuild each one on its own.
    if (step === 'reindex' && plan.concurrently) {
      for (const name of await invalidIndexes(client, part)) {
        throwIfAborted(call.signal, { partition: part.name });
        const index = sql.qualified(part.schema, name);
        const advice = `${index} was INVALID (a CREATE INDEX CONCURRENTLY that failed) and could not be rebuilt: fix what the rebuild failed on (duplicate keys of a unique index, say) and run maintain again, or drop it (DROP INDEX CONCURRENTLY ${index}).`;
        await runStep(step, sql.reindexIndexConcurrently(index), advice);
      }
    }
    ctx.onProgress({ phase: step, partition: part.name, done: i + 1, total: plan.steps.length });
  }
}

/** The INVALID `<index>_ccnew[N]` / `_ccold[N]` indexes a failed `REINDEX … CONCURRENTLY` left on the partition. */
async function rebuildLeftovers(client: PgClientLike, table: PartitionInfo): Promise<string[]> {
  const { rows } = (await client.query(sql.rebuildLeftovers, [table.sql])) as PgQueryResult<{ name: string }>;
  return rows.map((r) => r.name);
}

/** The partition's INVALID indexes that are not a failed rebuild's leftovers (those are dropped) nor being built right now. */
async function invalidIndexes(client: PgClientLike, part: PartitionInfo): Promise<string[]> {
  const leftovers = await rebuildLeftovers(client, part);
  const { rows } = (await client.query(sql.invalidIndexes, [part.sql])) as PgQueryResult<{ name: string }>;
  return rows.map((r) => r.name).filter((n) => !leftovers.includes(n));
}

/** `DROP INDEX CONCURRENTLY` each index in turn, recording each one dropped. */
async function dropIndexesConcurrently(
  client: PgClientLike,
  part: PartitionInfo,
  names: readonly string[],
  dropped: string[],
): Promise<void> {
  for (const name of names) {
    await client.query(sql.dropIndexConcurrently(sql.qualified(part.schema, name), true));
    dropped.push(name);
  }
}

/** The error of a failed step, saying which invalid rebuild leftovers remain on the partition and how to drop them. */
function leftoverError(
  error: unknown,
  part: PartitionInfo,
  what: string,
  found: readonly string[],
  dropped: readonly string[],
  advice = '',
): BackfillError {
  const partition = `${part.schema}.${part.name}`;
  const remaining = found.filter((n) => !dropped.includes(n));
  const base = pgErrorToBackfill(error, { partition: part.name, invalidIndexes: remaining }, what);
  const notes: string[] = advice === '' ? [] : [advice];
  if (dropped.length > 0) notes.push(`Dropped the invalid indexes it left on ${partition}: ${dropped.join(', ')}.`);
  if (remaining.length > 0) {
    const drops = remaining.map((n) => `${sql.dropIndexConcurrently(sql.qualified(part.schema, n), false)};`).join(' ');
    notes.push(
      `Left INVALID indexes on ${partition} that every write still maintains: ${remaining.join(', ')}. The next maintain of ${partition} drops them once the blocking session ends; or run: ${drops}`,
    );
  }
  return notes.length === 0 ? base : withNote(base, notes.join(' '));
}
