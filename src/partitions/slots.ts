/**
 * Slots (a partition's name and bounds under the naming rule) and their SQL.
 *
 * @internal
 * @module
 */
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { addIntervals, boundLiteral, partitionSuffix, type PartitionColumnType } from './interval.js';
import type { ManagerContext } from './options.js';
import * as sql from './sql.js';
import type { PartitionInfo, PartitionSlot } from './types.js';

/** The slot that starts at `start` (already floored to the interval). */
export function slotAt(ctx: ManagerContext, start: Date): PartitionSlot {
  return { name: `${ctx.parent.name}${partitionSuffix(start, ctx.interval)}`, from: start, to: addIntervals(start, ctx.interval, 1) };
}

/** `"schema"."name"` of a table in the parent's schema. */
export function inParentSchema(ctx: ManagerContext, name: string): string {
  return sql.qualified(ctx.parent.schema, name);
}

/** The slot's bounds as literals of the key's type, and the condition that selects its rows. */
export function rangeOf(ctx: ManagerContext, slot: PartitionSlot, keyType: PartitionColumnType): sql.RangeSql {
  const from = boundLiteral(slot.from, keyType);
  const to = boundLiteral(slot.to, keyType);
  return { from, to, where: sql.inRange(ctx.columnSql, from, to) };
}

/** A slot's statements in their two steps: the standalone table (with its owner and privileges), then its attach. */
export interface SlotSteps {
  readonly make: readonly string[];
  readonly attach: readonly string[];
}

/**
 * The statements that make the slot's partition without ACCESS EXCLUSIVE on
 * the parent: a standalone table shaped like the parent, with the
 * parent's owner and privileges, then `ATTACH PARTITION`, then the parent's
 * replica identity. Sent in one transaction, so no run, however it ends, leaves
 * the table behind unattached. Rows parked in the default partition move
 * into the table between the two steps.
 */
export function createSlotSteps(
  ctx: ManagerContext,
  slot: PartitionSlot,
  keyType: PartitionColumnType,
  storage: sql.ParentStorage,
  access: sql.ParentAccess,
): SlotSteps {
  const child = inParentSchema(ctx, slot.name);
  return {
    make: [sql.createLikeParent(child, ctx.parent.sql, storage), ...sql.copyAccess(child, access)],
    attach: [sql.attachPartition(ctx.parent.sql, child, rangeOf(ctx, slot, keyType)), ...sql.copyReplicaIdentity(child, storage)],
  };
}

/** How to take back a partition left detach pending (an interrupted `DETACH … CONCURRENTLY`), which takes no rows. */
export function finishPendingDetach(ctx: ManagerContext, part: PartitionInfo): string {
  return (
    `${part.name} is detach pending (an interrupted DETACH … CONCURRENTLY), so rows of its range have no partition but the default, if there is one: ` +
    `finish it with ALTER TABLE ${ctx.parent.sql} DETACH PARTITION ${part.sql} FINALIZE, then attach it back (backfill-kit partitions attach ${part.schema}.${part.name}) or drop it and run ensure again.`
  );
}

/**
 * Stops a long call between steps, or before a step's COMMIT (`notDone`
 * then says what the step did not do); what finished is in the error's `partial`.
 */
export function throwIfAborted(signal: AbortSignal | undefined, context: BackfillErrorContext, notDone?: string): void {
  if (signal?.aborted)
    throw new BackfillError(
      'ABORTED',
      notDone === undefined
        ? 'The operation was aborted; finished steps are listed in error.partial.'
        : `The operation was interrupted while it waited for its lock: ${notDone}, and nothing after the signal was committed; finished steps are listed in error.partial.`,
      { context },
    );
}

/** The SQLSTATE of a driver error, if it has one. */
export function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
