/**
 * `ensure`: plan the window's missing slots and create them in short batches.
 *
 * @internal
 * @module
 */
import { BackfillError } from '../errors.js';
import { pgErrorToBackfill, type PgClientLike, type PgQueryResult } from '../_internals/pg.js';
import { covers, overlaps, readSnapshot, type Snapshot } from './catalog.js';
import { refuseSkewedClock } from './clock.js';
import {
  defaultTakesCheck,
  inDdlTransaction,
  insertableColumns,
  moveRows,
  parentAccess,
  parentStorage,
  type PrivilegeDrift,
  privilegeDrift,
  refuseReferencedMove,
  runDdlUnlessAborted,
  type DdlStop,
  withAdvisoryLock,
} from './ddl.js';
import { addIntervals, floorToInterval } from './interval.js';
import { ENSURE_DEFAULT_CHECK_NAME } from './defaults.js';
import { invalid, type EnsurePlanOptions, type ManagerContext } from './options.js';
import {
  createSlotSteps,
  finishPendingDetach,
  inParentSchema,
  rangeOf,
  type SlotSteps,
  slotAt,
  sqlstateOf,
  throwIfAborted,
} from './slots.js';
import * as sql from './sql.js';
import type { CreatedPartition, EnsureOptions, EnsureReport, PartitionInfo, PartitionSlot } from './types.js';

/** Stops gap filling from walking a misconfigured calendar for ever. */
const MAX_SLOTS = 1_000_000;
/** SQLSTATE duplicate_table: a relation already holds the name. */
const DUPLICATE_TABLE = '42P07';
/** SQLSTATE check_violation: the default partition holds rows for the new range (ATTACH's check of it fails). */
const CHECK_VIOLATION = '23514';
/** SQLSTATE query_canceled: a `statement_timeout` (the role's or the database's) or another session's cancel; never ours. */
const QUERY_CANCELED = '57014';
const RELKIND_NAMES: Readonly<Record<string, string>> = {
  r: 'a standalone table',
  p: 'a partitioned table',
  v: 'a view',
  m: 'a materialized view',
  i: 'an index',
  I: 'a partitioned index',
  S: 'a sequence',
  f: 'a foreign table',
};

/** A slot of the window that a partition of another shape partly covers: it cannot be created. */
interface BlockedSlot {
  readonly slot: PartitionSlot;
  readonly overlap: PartitionInfo;
}

/**
 * Which slots of the window (and, with `fillGaps`, of gaps between managed
 * partitions) need creating, and which of the window a foreign partition
 * partly overlaps.
 */
function planEnsure(
  ctx: ManagerContext,
  snap: Snapshot,
  first: Date,
  last: Date,
  fillGaps: boolean,
): { todo: PartitionSlot[]; existing: EnsureReport['existing']; blocked: BlockedSlot[] } {
  let lo = first.getTime();
  let hi = last.getTime();
  // Only managed partitions (always finite) widen the walk.
  for (const s of fillGaps ? snap.spans : []) {
    if (!s.partition.managed) continue;
    lo = Math.min(lo, s.from);
    hi = Math.max(hi, s.from);
  }
  const todo: PartitionSlot[] = [];
  const existing: (PartitionSlot & { coveredBy: string })[] = [];
  const blocked: BlockedSlot[] = [];
  let start = new Date(lo);
  for (let n = 0; start.getTime() <= hi; n++, start = addIntervals(start, ctx.interval, 1)) {
    if (n > MAX_SLOTS) throw invalid(`more than ${MAX_SLOTS} slots between the oldest partition and the window; check the interval.`);
    const slot = slotAt(ctx, start);
    const inWindow = start.getTime() >= first.getTime() && start.getTime() <= last.getTime();
    // A partition whose detach is pending no longer takes rows: it holds its range without covering it.
    const cover = snap.spans.find((s) => covers(s, slot) && !s.partition.detachPending)?.partition;
    if (cover) {
      if (inWindow) existing.push({ ...slot, coveredBy: cover.name });
      continue;
    }
    const overlap = snap.spans.find((s) => overlaps(s, slot))?.partition;
    if (overlap === undefined) todo.push(slot);
    else if (inWindow) blocked.push({ slot, overlap });
  }
  return { todo, existing, blocked };
}

/** `PARTITION_OVERLAP` for the window's slots that foreign partitions partly overlap, once every other slot was created. */
function overlapError(ctx: ManagerContext, blocked: readonly BlockedSlot[], createdCount: number): BackfillError {
  const each = blocked.map(
    ({ slot, overlap }) =>
      `${slot.name} [${slot.from.toISOString()}, ${slot.to.toISOString()}) overlaps partition ${overlap.schema}.${overlap.name} (${overlap.bound})`,
  );
  const { slot, overlap } = blocked[0]!;
  const advice = overlap.detachPending
    ? finishPendingDetach(ctx, overlap)
    : `Detach or drop ${overlap.name} first, then run ensure again: until then, rows of that range outside ${overlap.name} have no partition but the default, if there is one.`;
  return new BackfillError(
    'PARTITION_OVERLAP',
    `${each.join('; ')}, so ensure could not create it; every other slot of ${ctx.table} was created (${createdCount} new). ${advice}`,
    { context: { partition: slot.name, overlaps: overlap.name } },
  );
}

/** `INVALID_ARGUMENT` for a plan of more slots than `maxCreate`, before any is created. */
function tooMany(ctx: ManagerContext, plan: EnsurePlanOptions, todo: readonly PartitionSlot[], hasDefault: boolean): BackfillError {
  const window = `behind ${plan.behind}, ahead ${plan.ahead}${plan.fillGaps ? ', filling gaps' : ''}`;
  const scans = hasDefault ? ' Each one would also scan the default partition for its rows.' : '';
  return invalid(
    `ensure would create ${todo.length} partitions of ${ctx.table} (${window}; ${todo[0]!.name} to ${todo[todo.length - 1]!.name}), more than maxCreate (--max-create) ${plan.maxCreate}, so it created none.${scans} Check the window against the interval (days, not months?), or raise maxCreate (--max-create ${todo.length}) to create them all.`,
    { partition: todo[0]!.name },
  );
}

/** What one `ensure` call works with. */
export interface EnsureRun {
  readonly client: PgClientLike;
  readonly ctx: ManagerContext;
  readonly plan: EnsurePlanOptions;
  readonly call: EnsureOptions;
}

/** What `ensure` has done so far: filled in as it goes, so a failure can report it. */
export interface EnsureProgress {
  readonly created: CreatedPartition[];
  existing: EnsureReport['existing'] | undefined;
}

/**
 * Computes the window from the clock, then, under the parent's advisory
 * lock, reads the partitions, plans the missing slots and creates them.
 */
export async function ensureWindow(run: EnsureRun, progress: EnsureProgress): Promise<EnsureReport> {
  const { client, ctx, plan } = run;
  await refuseSkewedClock(client, ctx, 'ensure');
  const current = floorToInterval(ctx.now(), ctx.interval);
  const first = addIntervals(current, ctx.interval, -plan.behind);
  const last = addIntervals(current, ctx.interval, plan.ahead);
  // A name holds a 4-digit year: a slot outside them would be made under a name the rule does not own.
  for (const edge of [first, last]) {
    const year = edge.getUTCFullYear();
    if (year < 1 || year > 9999)
      throw invalid(
        `the window (behind ${plan.behind}, ahead ${plan.ahead}) reaches year ${year}; partition names hold the years 0001 to 9999.`,
      );
  }
  return withAdvisoryLock(client, ctx.parent, ctx.advisoryLockTimeoutMs, async () => {
    const snap = await readSnapshot(client, ctx.parent, ctx.column, ctx.interval, ctx.lockTimeoutMs);
    const { todo, existing, blocked } = planEnsure(ctx, snap, first, last, plan.fillGaps);
    progress.existing = existing;
    if (todo.length > plan.maxCreate) throw tooMany(ctx, plan, todo, snap.defaultPartition !== undefined);
    // A slot that cannot be made does not hold up the others (the current one among them).
    if (todo.length > 0) {
      const access = await parentAccess(client, ctx.parent);
      if (!access.owned && !access.canOwn) {
        ctx.logger.warn('new partitions keep the owner running ensure', {
          table: ctx.table,
          owner: access.owner,
          runningAs: access.me,
          reason: `${access.me} may not hand new tables to ${access.owner} (the owner of ${ctx.table}), so the new partitions stay owned by ${access.me}; they get the parent's privileges. Without a superuser, PostgreSQL needs ${access.owner} to have CREATE on schema ${ctx.parent.schema} and ${access.me} to be able to SET ROLE ${access.owner}: GRANT CREATE ON SCHEMA ${ctx.parent.schema} TO ${access.owner} (and GRANT ${access.owner} TO ${access.me} if it is not a member), or run ensure as ${access.owner}.`,
        });
      }
      const withheld = access.rowSecurity ? [...access.grants, ...access.columnGrants].filter((g) => g.grantee !== access.owner) : [];
      if (withheld.length > 0) {
        ctx.logger.warn("new partitions do not get the parent's grants: it has row-level security", {
          table: ctx.table,
          withheldFrom: [...new Set(withheld.map((g) => g.grantee))],
          reason: `${ctx.table} has row-level security, whose policies apply to reads through it but not to a partition read directly: the new partitions get its owner's privileges only, so ${[...new Set(withheld.map((g) => g.grantee))].join(', ')} read and write them through ${ctx.table}, under its policies.`,
        });
      }
      await createSlots({ ...run, snap, storage: await parentStorage(client, ctx.parent), access }, todo, progress);
    }
    warnPrivilegeDrift(
      run,
      await privilegeDrift(
        client,
        ctx.parent,
        snap.partitions.filter((p) => p.managed).map((p) => p.name),
      ),
    );
    if (blocked.length > 0) throw overlapError(ctx, blocked, progress.created.length);
    return { created: progress.created, existing };
  });
}

/**
 * Warns about existing partitions whose privileges drifted from the
 * parent's: PostgreSQL passes neither a GRANT nor a REVOKE on the parent
 * to the partitions it already has, and row-level security turned on
 * later leaves their grants in place.
 */
function warnPrivilegeDrift({ ctx }: EnsureRun, drift: readonly PrivilegeDrift[]): void {
  const { logger } = ctx;
  // The partitions (five at most, then how many more) and the verb that agrees with them.
  const list = (names: readonly string[], one: string, many: string): string =>
    `${names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`} ${names.length === 1 ? one : many}`;
  const foreign = drift.filter((d) => d.owner !== null);
  if (foreign.length > 0) {
    const owner = foreign[0]!.parentOwner;
    const owners = [...new Set(foreign.map((d) => d.owner!))];
    const parts = foreign.map((d) => `${ctx.parent.schema}.${d.name}`);
    logger.warn('existing partitions are not owned by the parent’s owner', {
      table: ctx.table,
      partitions: parts,
      owners,
      reason: `${list(parts, 'belongs', 'belong')} to ${owners.join(', ')}, not to ${owner}, the owner of ${ctx.table} (made by hand, by an earlier version of ensure, or by a role that may not hand them over), so ${owner}'s migrations, VACUUMs and REINDEXes are refused on them. ALTER TABLE … OWNER TO ${owner} on each, as a superuser or a member of both roles (${owner} needs CREATE on schema ${ctx.parent.schema}); its privileges go with it.`,
    });
  }
  const lacking = drift.filter((d) => d.missing.length > 0);
  if (lacking.length > 0) {
    const roles = [...new Set(lacking.flatMap((d) => d.missing))];
    const parts = lacking.map((d) => `${ctx.parent.schema}.${d.name}`);
    logger.warn("existing partitions lack privileges of the parent's", {
      table: ctx.table,
      partitions: parts,
      roles,
      reason: `${list(parts, 'lacks', 'lack')} privileges that ${ctx.table} grants to ${roles.join(', ')}: a grant made on a partitioned table never reaches the partitions it already has. They still reach the partitions through ${ctx.table}, not directly. To give them the same on each partition, GRANT each one what ${ctx.table} grants (new partitions get it by themselves).`,
    });
  }
  const extra = drift.filter((d) => d.extra.length > 0);
  if (extra.length > 0) {
    const roles = [...new Set(extra.flatMap((d) => d.extra))];
    const parts = extra.map((d) => `${ctx.parent.schema}.${d.name}`);
    const rls = extra[0]!.rls;
    logger.warn(
      rls ? 'existing partitions let roles past the parent’s row-level security' : 'existing partitions grant more than the parent',
      {
        table: ctx.table,
        partitions: parts,
        roles,
        reason: rls
          ? `${ctx.table} has row-level security, whose policies apply to reads through it but not to a partition read directly, and ${list(parts, 'grants', 'grant')} privileges to ${roles.join(', ')}, who may read them past those policies. Unless that is meant: REVOKE ALL ON TABLE ${parts.join(', ')} FROM ${roles.join(', ')}.`
          : `${list(parts, 'grants', 'grant')} ${roles.join(', ')} privileges that ${ctx.table} does not: a REVOKE made on a partitioned table never reaches the partitions it already has, so they still read or write those partitions directly. Unless that is meant, revoke on each partition what was revoked on ${ctx.table}.`,
      },
    );
  }
}

/**
 * Creates `todo` `batchSize` per round trip and commit. Each slot is a table
 * made like the parent, then attached: the parent is held in SHARE UPDATE
 * EXCLUSIVE only, which its readers and writers do not conflict with (a
 * default partition, which ATTACH must check, is held in ACCESS EXCLUSIVE
 * until the commit; a batch checks it once, with a CHECK constraint that
 * excludes the batch's ranges, added and dropped in the batch's transaction). A batch that fails because the default partition holds
 * rows for a slot, or because a name is held by another table, is retried
 * slot by slot. Each created slot is added to `progress.created` as soon as
 * it is committed.
 */
async function createSlots(
  run: EnsureRun & { readonly snap: Snapshot; readonly storage: sql.ParentStorage; readonly access: sql.ParentAccess },
  todo: readonly PartitionSlot[],
  progress: EnsureProgress,
): Promise<void> {
  const { client, ctx, snap, storage, access, plan, call } = run;
  const steps = (slot: PartitionSlot): SlotSteps => createSlotSteps(ctx, slot, snap.keyType, storage, access);
  const make = (slot: PartitionSlot): string[] => {
    const { make: table, attach } = steps(slot);
    return [...table, ...attach];
  };
  const { logger } = ctx;
  const def = snap.defaultPartition;
  const taken: PartitionSlot[] = [];
  // The first slot PostgreSQL refused (a foreign key, a rule on the default partition), reported once the others are made.
  let refused: BackfillError | undefined;
  const created = (c: CreatedPartition): void => {
    progress.created.push(c);
    logger.info('partition created', {
      partition: c.name,
      from: c.from.toISOString(),
      to: c.to.toISOString(),
      rowsMovedFromDefault: c.rowsMovedFromDefault,
    });
  };
  let columns: string | undefined;
  // Rows in the default partition make ATTACH fail with 23514 ("would be violated"); only then is the slower move needed.
  const createOne = async (slot: PartitionSlot): Promise<number> => {
    try {
      await runDdlUnlessAborted(client, ctx.lockTimeoutMs, notCreated(call.signal, [slot]), ...make(slot));
      return 0;
    } catch (error) {
      if (def === undefined || sqlstateOf(error) !== CHECK_VIOLATION) throw error;
      columns ??= await insertableColumns(client, ctx.parent);
      return createBesideDefault(client, ctx, { slot, steps: steps(slot), signal: call.signal }, snap, def, columns);
    }
  };
  // Each ATTACH scans the default partition, held ACCESS EXCLUSIVE to the commit: one CHECK scans it once per batch.
  const oneScan = def !== undefined && todo.length > 1 && (await defaultTakesCheck(client, def));
  const batch = (chunk: readonly PartitionSlot[]): string[] =>
    oneScan && chunk.length > 1
      ? [
          sql.addRangesExcluded(
            def.sql,
            ENSURE_DEFAULT_CHECK_NAME,
            chunk.map((slot) => rangeOf(ctx, slot, snap.keyType).where),
          ),
          ...chunk.flatMap(make),
          sql.dropBoundsCheck(def.sql, ENSURE_DEFAULT_CHECK_NAME, false),
        ]
      : chunk.flatMap(make);
  for (let i = 0; i < todo.length; i += plan.batchSize) {
    const chunk = todo.slice(i, i + plan.batchSize);
    const lead = chunk[0]!;
    throwIfAborted(call.signal, { partition: lead.name });
    try {
      await runDdlUnlessAborted(client, ctx.lockTimeoutMs, notCreated(call.signal, chunk), ...batch(chunk));
      for (const slot of chunk) created({ ...slot, rowsMovedFromDefault: 0 });
    } catch (error) {
      const code = sqlstateOf(error);
      if (code !== DUPLICATE_TABLE && code !== QUERY_CANCELED && (def === undefined || code !== CHECK_VIOLATION)) {
        throw pgErrorToBackfill(error, { partition: lead.name }, `ensure ${lead.name}`);
      }
      for (const slot of chunk) {
        try {
          created({ ...slot, rowsMovedFromDefault: await createOne(slot) });
        } catch (inner) {
          if (sqlstateOf(inner) === DUPLICATE_TABLE) {
            taken.push(slot);
            continue;
          }
          // A slot whose rows cannot move (another table references them, a rule forbids it, there are too many to
          // move within the statement_timeout) stays in the default partition and the others go on. A lock timeout
          // or a lost connection stops here.
          if (sqlstateOf(inner) === QUERY_CANCELED) {
            refused ??= canceled(inner, slot);
            continue;
          }
          const failure = pgErrorToBackfill(inner, { partition: slot.name }, `ensure ${slot.name}`);
          if (failure.code !== 'TABLE_REFERENCED' && failure.code !== 'DB_ERROR') throw failure;
          refused ??= failure;
        }
      }
    }
    ctx.onProgress({ phase: 'create', partition: chunk[chunk.length - 1]!.name, done: progress.created.length, total: todo.length });
  }
  if (taken.length > 0) throw await nameTaken(client, ctx, taken, progress.created.length);
  if (refused !== undefined) throw refused;
}

/**
 * A slot's statement cancelled by the server (the classifier's `DB_ERROR`
 * saying how to raise `statement_timeout`), told what it means for the
 * slot: the move of its rows out of the default partition (or ATTACH's
 * check of that partition) did not finish, so they stay there.
 */
function canceled(error: unknown, slot: PartitionSlot): BackfillError {
  const failure = pgErrorToBackfill(error, { partition: slot.name }, `ensure ${slot.name}`);
  return new BackfillError(
    failure.code,
    `${failure.message} Moving the rows of [${slot.from.toISOString()}, ${slot.to.toISOString()}) out of the default partition (or checking that partition) did not finish: they stay in the default partition and ${slot.name} was not created.`,
    { cause: error, context: failure.context, ...(failure.dbCode === undefined ? {} : { dbCode: failure.dbCode }), detail: failure.detail },
  );
}

/**
 * When the default partition holds rows for the slot, writers are paused
 * (SHARE ROW EXCLUSIVE on the parent alone and the default partition,
 * readers continue) so no new row can
 * land in the default for this range; the partition's table is made, its
 * rows move into it, and it is attached (PostgreSQL's default-partition
 * check now passes). No temporary table: a role may lack the TEMPORARY
 * privilege. One transaction: readers see the rows in the default or in
 * the new partition, never in neither.
 */
async function createBesideDefault(
  client: PgClientLike,
  ctx: ManagerContext,
  { slot, steps, signal }: { readonly slot: PartitionSlot; readonly steps: SlotSteps; readonly signal: AbortSignal | undefined },
  snap: Snapshot,
  def: PartitionInfo,
  columns: string,
): Promise<number> {
  const { where } = rangeOf(ctx, slot, snap.keyType);
  const stop = notCreated(signal, [slot]);
  return inDdlTransaction(client, ctx.lockTimeoutMs, async () => {
    await client.query(sql.lockParentForMove(ctx.parent.sql, def.sql));
    const { rows } = (await client.query(sql.anyRowIn(def.sql, where))) as PgQueryResult<{ stuck: boolean }>;
    if (rows[0]?.stuck !== true) {
      await client.query([...steps.make, ...steps.attach].join(';\n'));
      throwIfAborted(stop.signal, { partition: stop.partition }, stop.notDone);
      return 0;
    }
    await refuseReferencedMove(client, def, slot, where);
    await client.query(steps.make.join(';\n'));
    const moved = await moveRows(client, { fromSql: def.sql, toSql: inParentSchema(ctx, slot.name), partition: slot.name }, columns, where);
    await client.query(steps.attach.join(';\n'));
    // The locks above may have waited for readers: a signal meanwhile rolls the move back rather than committing it.
    throwIfAborted(stop.signal, { partition: stop.partition }, `${slot.name} was not created and its rows stay in the default partition`);
    return moved;
  });
}

/** `PARTITION_NAME_TAKEN` for the slots whose name another relation holds, saying what each one is and how to free the name. */
async function nameTaken(
  client: PgClientLike,
  ctx: ManagerContext,
  taken: readonly PartitionSlot[],
  createdCount: number,
): Promise<BackfillError> {
  const { schema } = ctx.parent;
  const { rows } = (await client.query(sql.relationsNamed, [schema, taken.map((t) => t.name), ctx.parent.sql])) as PgQueryResult<{
    name: string;
    kind: string;
    is_partition: boolean;
    own_bound: string | null;
  }>;
  const what = (name: string): string => {
    const row = rows.find((r) => r.name === name);
    if (row === undefined) return 'a relation';
    // One of this very parent's partitions that the naming rule does not own: its bounds are not the name's.
    if (row.own_bound === 'DEFAULT') return `the default partition of ${ctx.table}`;
    if (row.own_bound !== null) return `a partition of ${ctx.table} whose bounds are not its name's: ${row.own_bound}`;
    if (row.is_partition) return 'a partition of another table';
    return RELKIND_NAMES[row.kind] ?? `a relation of kind ${row.kind}`;
  };
  const own = (t: PartitionSlot): boolean => rows.some((r) => r.name === t.name && r.own_bound !== null);
  const each = taken.map(
    (t) => `${schema}.${t.name} (${what(t.name)}) holds the name of the partition [${t.from.toISOString()}, ${t.to.toISOString()})`,
  );
  const advice: string[] = [];
  const mine = taken.find(own);
  if (mine !== undefined)
    advice.push(
      `A partition of ${ctx.table} named like a slot it is not: rename it off the naming rule (ALTER TABLE ${schema}.${mine.name} RENAME TO ${mine.name}_kept, say), which keeps its rows and bounds and frees the name.`,
    );
  const other = taken.find((t) => !own(t));
  if (other !== undefined)
    advice.push(
      `If ${mine === undefined ? 'it' : `${schema}.${other.name}`} is a restored partition, attach it (backfill-kit partitions attach ${schema}.${other.name}); otherwise rename or drop it.`,
    );
  return new BackfillError(
    'PARTITION_NAME_TAKEN',
    `${each.join('; ')}, so ensure could not create it; every other slot of ${ctx.table} was created (${createdCount} new). ` +
      `${advice.join(' ')} Then run ensure again: until then rows for that range have no partition but the default, if there is one.`,
    { context: { table: ctx.table, partition: taken[0]!.name, taken: taken.map((t) => `${schema}.${t.name}`) } },
  );
}

/** What a signal stops creating `slots` says: none of them was created. */
function notCreated(signal: AbortSignal | undefined, slots: readonly PartitionSlot[]): DdlStop {
  const names = slots.map((s) => s.name).join(', ');
  return { signal, partition: slots[0]?.name ?? '', notDone: `${names} ${slots.length === 1 ? 'was' : 'were'} not created` };
}
