/**
 * `attach`: re-attach a table restored from backup, after checking its name,
 * its rows and the partitions it would sit beside.
 *
 * @internal
 * @module
 */
import { BackfillError } from '../errors.js';
import { pgErrorToBackfill, type PgClientLike, type PgQueryResult } from '../_internals/pg.js';
import { err, ok, type Result } from 'neverthrow';
import { parseQualifiedName, quoteIdent, type QualifiedName } from '../_internals/sql-identifier.js';
import { overlaps, readSnapshot, type Snapshot } from './catalog.js';
import {
  commentOf,
  inDdlTransaction,
  insertableColumns,
  moveRows,
  refuseReferencedMove,
  runDdl,
  runDdlUnlessAborted,
  withAdvisoryLock,
} from './ddl.js';
import { ATTACH_CHECK_NAME, DEFAULT_RETENTION_KEEP } from './defaults.js';
import { floorToInterval, intervalsBetween, parsePartitionSuffix } from './interval.js';
import { invalid, type ManagerContext } from './options.js';
import { finishPendingDetach, rangeOf, slotAt, throwIfAborted } from './slots.js';
import * as sql from './sql.js';
import type { AttachReport, PartitionCallOptions, PartitionSlot } from './types.js';

/** What one `attach` call works with. */
export interface AttachRun {
  readonly client: PgClientLike;
  readonly ctx: ManagerContext;
  readonly call: PartitionCallOptions;
  /** The restored table, and the slot its name stands for. */
  readonly target: QualifiedName;
  readonly slot: PartitionSlot;
}

/**
 * The table to attach and the slot its name stands for: `PARTITION_NAME_INVALID`
 * unless the name follows the naming rule in the parent's schema.
 */
export function restoredSlot(
  ctx: ManagerContext,
  tableName: string,
): Result<{ target: QualifiedName; slot: PartitionSlot }, BackfillError<never>> {
  return parseQualifiedName(tableName, ctx.parent.schema)
    .mapErr((e) => e.withoutPartial())
    .andThen((target) => {
      const start = target.name.startsWith(ctx.parent.name)
        ? parsePartitionSuffix(target.name.slice(ctx.parent.name.length), ctx.interval)
        : undefined;
      if (target.schema === ctx.parent.schema && start !== undefined) return ok({ target, slot: slotAt(ctx, start) });
      // Any month shows the rule; the clock is only read here for a familiar one (a bad clock is refused later).
      let at: Date;
      try {
        at = ctx.now();
      } catch {
        at = new Date();
      }
      const example = slotAt(ctx, floorToInterval(at, ctx.interval)).name;
      return err(
        new BackfillError<never>(
          'PARTITION_NAME_INVALID',
          `${target.schema}.${target.name} is not named like a ${ctx.interval} partition of ${ctx.table} (e.g. ${example}); rename it first.`,
          { context: { partition: target.name } },
        ),
      );
    });
}

interface TableInfo {
  readonly isPartition: boolean;
  readonly key: readonly string[];
  readonly indexes: readonly string[];
}

/**
 * Under the parent's advisory lock (as `ensure` and `retention` take it, so
 * none of them reads the partitions while another changes them), checks,
 * then attaches: the bounds CHECK first so ATTACH skips its scan, rows parked
 * in the default partition moved in.
 */
export async function attachTable(run: AttachRun): Promise<AttachReport> {
  return withAdvisoryLock(run.client, run.ctx.parent, run.ctx.advisoryLockTimeoutMs, () => checkAndAttach(run));
}

async function checkAndAttach(run: AttachRun): Promise<AttachReport> {
  const { client, ctx, target, slot } = run;
  // Read first, so a bad clock is refused before anything changes, not after the attach.
  const current = floorToInterval(ctx.now(), ctx.interval);
  const snap = await readSnapshot(client, ctx.parent, ctx.column, ctx.interval, ctx.lockTimeoutMs);
  const context = { partition: slot.name };
  const same = snap.partitions.find((p) => p.schema === target.schema && p.name === target.name);
  if (same?.detachPending) throw invalid(finishPendingDetach(ctx, same), context);
  if (same?.managed) {
    // Attached before (a second rollback run, or by hand): retention drops it all the same, so say so again.
    warnIfRetentionDrops(run, current);
    return { ...slot, alreadyAttached: true, rowsMovedFromDefault: 0, indexesCreated: [] };
  }
  if (same) throw new BackfillError('PARTITION_NAME_INVALID', `${slot.name} is already attached, but ${same.reason}.`, { context });
  const overlap = snap.spans.find((s) => overlaps(s, slot))?.partition;
  if (overlap) {
    throw new BackfillError(
      'PARTITION_OVERLAP',
      `${slot.name} would overlap partition ${overlap.name} (${overlap.bound}); detach or drop it first.`,
      {
        context: { ...context, overlaps: overlap.name },
      },
    );
  }
  throwIfAborted(run.call.signal, context);
  const info = await tableInfo(client, target);
  if (info.isPartition) throw invalid(`${target.schema}.${target.name} is already a partition of another table; detach it first.`, context);
  await refuseOutOfRange(run, snap, info.key);
  const moved = await attachWithCheck(run, snap);
  const after = await tableInfo(client, target);
  const indexesCreated = after.indexes.filter((i) => !info.indexes.includes(i));
  ctx.logger.info('partition attached', { partition: slot.name, rowsMovedFromDefault: moved, indexesCreated });
  warnIfRetentionDrops(run, current);
  run.ctx.onProgress({ phase: 'attach', partition: slot.name, done: 1, total: 1 });
  return { ...slot, alreadyAttached: false, rowsMovedFromDefault: moved, indexesCreated };
}

/** Adds the bounds CHECK, attaches (moving the slot's rows out of the default partition, if any) and drops the CHECK. */
async function attachWithCheck(run: AttachRun, snap: Snapshot): Promise<number> {
  const { client, ctx, target, slot } = run;
  const range = rangeOf(ctx, slot, snap.keyType);
  const dropCheckIfAny = sql.dropBoundsCheck(target.sql, ATTACH_CHECK_NAME, true);
  await runDdl(client, ctx.lockTimeoutMs, dropCheckIfAny, sql.addBoundsCheck(target.sql, ATTACH_CHECK_NAME, ctx.columnSql, range.where));
  const attach = sql.attachPartition(ctx.parent.sql, target.sql, range);
  // A table a drop run detached and marked but could not drop is a partition again: the mark goes, its own comment stays.
  const note = await commentOf(client, target.sql);
  const own = sql.unmarkedComment(note);
  const dropCheck = [
    sql.dropBoundsCheck(target.sql, ATTACH_CHECK_NAME, false),
    ...(own === note ? [] : [sql.commentOnTable(target.sql, own)]),
  ];
  const def = snap.defaultPartition;
  // The locks below may wait for readers: a signal meanwhile rolls the attach back rather than committing it.
  const stop = { signal: run.call.signal, partition: slot.name, notDone: `${slot.name} was not attached` };
  try {
    if (def === undefined) {
      await runDdlUnlessAborted(client, ctx.lockTimeoutMs, stop, attach, ...dropCheck);
      return 0;
    }
    const columns = await insertableColumns(client, ctx.parent);
    return await inDdlTransaction(client, ctx.lockTimeoutMs, async () => {
      await client.query(sql.lockParentForMove(ctx.parent.sql, def.sql));
      await refuseReferencedMove(client, def, slot, range.where);
      const n = await moveRows(client, { fromSql: def.sql, toSql: target.sql, partition: slot.name }, columns, range.where);
      await client.query(attach);
      await client.query(dropCheck.join(';\n'));
      throwIfAborted(stop.signal, { partition: stop.partition }, `${stop.notDone} and its rows stay in the default partition`);
      return n;
    });
  } catch (error) {
    // Leave the restored table as we found it (best effort; the next attach drops it anyway).
    await runDdl(client, ctx.lockTimeoutMs, dropCheckIfAny).catch(() => undefined);
    throw error;
  }
}

/**
 * A restored range is usually one retention already dropped, and the next
 * retention run with the same `keep` drops it again (it follows the naming
 * rule, so it is managed): say so, with the largest `keep` that drops it and
 * how to keep it.
 */
function warnIfRetentionDrops(run: AttachRun, current: Date): void {
  const { ctx, target, slot } = run;
  // Retention with `keep` k drops a slot ending at or before the current interval's start minus k intervals.
  const upTo = intervalsBetween(slot.to, current, ctx.interval);
  if (upTo < 0) return;
  ctx.logger.warn(
    `${slot.name} ends ${upTo} ${ctx.interval}${upTo === 1 ? '' : 's'} before the current ${ctx.interval}, so the next retention run with keep ${upTo} or less (the default is ${DEFAULT_RETENTION_KEEP}) drops (or in detach mode detaches) it again. ` +
      `To keep it, rename it off the naming rule (ALTER TABLE ${target.sql} RENAME TO ${quoteIdent(`${slot.name}_restored`)}), which retention ignores, or run retention with keep ${upTo + 1} or more until it may go.`,
    { partition: slot.name, droppedByKeepUpTo: upTo },
  );
}

async function tableInfo(client: PgClientLike, t: QualifiedName): Promise<TableInfo> {
  const { rows } = (await client.query(sql.tableInfo, [t.schema, t.name])) as PgQueryResult<{
    kind: string;
    is_partition: boolean;
    key: string[] | null;
    indexes: string[] | null;
  }>;
  const row = rows[0];
  const context = { partition: t.name };
  if (row === undefined)
    throw new BackfillError('TABLE_NOT_FOUND', `${t.schema}.${t.name} does not exist; restore it from backup first.`, { context });
  if (row.kind !== 'r') throw invalid(`${t.schema}.${t.name} is not a plain table (relkind ${row.kind}).`, context);
  return { isPartition: row.is_partition, key: row.key ?? [], indexes: row.indexes ?? [] };
}

/** `PARTITION_OUT_OF_RANGE` naming the first row (by primary key, else ctid) outside the slot or with a NULL key. */
async function refuseOutOfRange(run: AttachRun, snap: Snapshot, key: readonly string[]): Promise<void> {
  const { client, ctx, target: t, slot } = run;
  const keyCols = key.length > 0 ? key : ['ctid'];
  const keySql = keyCols.map((k) => (k === 'ctid' ? 'ctid' : quoteIdent(k)));
  const { where } = rangeOf(ctx, slot, snap.keyType);
  // Reading it waits for a lock on it (a restore still running in one transaction holds it): under lock_timeout, as
  // every step is, so the per-table lock the daily jobs wait for is not held for as long as that restore.
  let results: PgQueryResult<Record<string, string | null>>[];
  try {
    results = (await client.query(
      `${sql.setLocalLockTimeout(ctx.lockTimeoutMs)}; ${sql.firstRowOutside(t.sql, keySql, ctx.columnSql, where)}`,
    )) as PgQueryResult<Record<string, string | null>>[];
  } catch (error) {
    const failure = pgErrorToBackfill(error, { partition: t.name }, `attach: reading ${t.schema}.${t.name}`);
    if (failure.code !== 'LOCK_TIMEOUT') throw failure;
    throw new BackfillError(
      'LOCK_TIMEOUT',
      `${failure.message}. Another session holds ${t.schema}.${t.name} (a restore still running in one transaction?); attach it once that session is done. Nothing was changed.`,
      { cause: error, context: failure.context, ...(failure.dbCode === undefined ? {} : { dbCode: failure.dbCode }) },
    );
  }
  const row = results[results.length - 1]?.rows[0];
  if (row === undefined) return;
  const id = keyCols.map((k, i) => `${k}=${row[`k${i}`] ?? 'NULL'}`).join(', ');
  throw new BackfillError(
    'PARTITION_OUT_OF_RANGE',
    `${t.schema}.${t.name}: row ${id} has ${ctx.column} = ${row.v ?? 'NULL'}, outside [${slot.from.toISOString()}, ${slot.to.toISOString()}). Move or delete it, then attach again; nothing was changed.`,
    { context: { partition: t.name, id } },
  );
}
