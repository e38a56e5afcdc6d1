import { errAsync, ResultAsync } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { silentLogger, type Logger } from '../_internals/logger.js';
import { PgHandle, pgErrorToBackfill, type PgClientLike, type PgQueryResult } from '../_internals/pg.js';
import { parseQualifiedName, quoteIdent, validateIdentifier, type QualifiedName } from '../_internals/sql-identifier.js';
import { readSnapshot, type Snapshot } from './catalog.js';
import { inDdlTransaction, insertableColumns, moveRows, runDdl, withAdvisoryLock, withSessionLockTimeout } from './ddl.js';
import {
  ATTACH_CHECK_NAME,
  DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS,
  DEFAULT_PARTITIONS_AHEAD,
  DEFAULT_PARTITIONS_BEHIND,
  DEFAULT_PARTITION_CREATE_BATCH,
  DEFAULT_RETENTION_DRY_RUN,
  DEFAULT_RETENTION_KEEP,
  DEFAULT_PARTITION_LOCK_TIMEOUT_MS,
  DEFAULT_PARTITION_SUFFIX,
  DEFAULT_RETENTION_MODE,
  MAX_INTERVAL_COUNT,
} from './defaults.js';
import {
  PARTITION_INTERVALS,
  addIntervals,
  boundLiteral,
  floorToInterval,
  parsePartitionSuffix,
  partitionSuffix,
  type PartitionInterval,
} from './interval.js';
import type {
  AttachReport,
  CreateParentOptions,
  CreatedPartition,
  EnsureOptions,
  EnsureReport,
  MaintainOptions,
  MaintainReport,
  PartitionCallOptions,
  PartitionInfo,
  PartitionManagerConfig,
  PartitionSlot,
  RetentionCandidate,
  RetentionOptions,
  RetentionReport,
} from './types.js';

/** The longest suffix any interval writes (`_YYYY_MM_DD`). */
const LONGEST_SUFFIX = 11;
/** Plain SQL type names only: `text`, `timestamp with time zone`, `varchar(64)`, `numeric(10, 2)`, `text[]`. */
const SQL_TYPE = /^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*)*( ?\(\d+( ?, ?\d+)?\))?(\[\])?$/;
/** Stops gap filling from walking a misconfigured calendar for ever. */
const MAX_SLOTS = 1_000_000;
/** SQLSTATE duplicate_table: a relation already holds the name. */
const DUPLICATE_TABLE = '42P07';
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

function invalid(message: string, context: BackfillErrorContext = {}): BackfillError {
  return new BackfillError('INVALID_ARGUMENT', message, { context });
}

function countOption(value: unknown, name: string, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_INTERVAL_COUNT) {
    throw invalid(`${name} must be an integer from 0 to ${MAX_INTERVAL_COUNT}; got ${String(value)}.`);
  }
  return v;
}

function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function abortError(signal: AbortSignal | undefined, context: BackfillErrorContext): BackfillError | undefined {
  return signal?.aborted
    ? new BackfillError('ABORTED', 'The operation was aborted; finished steps are listed in context.partial.', { context })
    : undefined;
}

/**
 * The INVALID indexes a failed `REINDEX … CONCURRENTLY` left on `table`:
 * named `<index>_ccnew[N]` or `<index>_ccold[N]` after an index of the same
 * table, so an index someone else made is never taken for one.
 */
async function rebuildLeftovers(client: PgClientLike, table: PartitionInfo): Promise<string[]> {
  const { rows } = (await client.query(
    `SELECT ic.relname::text AS name
     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = $1::regclass AND NOT i.indisvalid
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_index b JOIN pg_catalog.pg_class bc ON bc.oid = b.indexrelid
                   WHERE b.indrelid = i.indrelid AND b.indexrelid <> i.indexrelid
                     AND pg_catalog.starts_with(ic.relname, bc.relname) AND pg_catalog.substr(ic.relname, pg_catalog.length(bc.relname) + 1) ~ '^_cc(new|old)[0-9]*$')
     ORDER BY 1`,
    [table.sql],
  )) as PgQueryResult<{ name: string }>;
  return rows.map((r) => r.name);
}

/** `DROP INDEX CONCURRENTLY` each index in turn (PostgreSQL takes one per statement), recording each one dropped. */
async function dropIndexesConcurrently(client: PgClientLike, schema: string, names: readonly string[], dropped: string[]): Promise<void> {
  for (const name of names) {
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(schema)}.${quoteIdent(name)}`);
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
  partial: object,
): BackfillError {
  const partition = `${part.schema}.${part.name}`;
  const remaining = found.filter((n) => !dropped.includes(n));
  const base = pgErrorToBackfill(
    error,
    { partition: part.name, partial: { ...partial, invalidIndexesDropped: dropped }, invalidIndexes: remaining },
    what,
  );
  const notes: string[] = [];
  if (dropped.length > 0) notes.push(`Dropped the invalid indexes it left on ${partition}: ${dropped.join(', ')}.`);
  if (remaining.length > 0) {
    const sql = remaining.map((n) => `DROP INDEX CONCURRENTLY ${quoteIdent(part.schema)}.${quoteIdent(n)};`).join(' ');
    notes.push(
      `Left INVALID indexes on ${partition} that every write still maintains: ${remaining.join(', ')}. The next maintain of ${partition} drops them once the blocking session ends; or run: ${sql}`,
    );
  }
  if (notes.length === 0) return base;
  return new BackfillError(base.code, `${base.message} ${notes.join(' ')}`, {
    cause: error,
    context: base.context,
    ...(base.dbCode === undefined ? {} : { dbCode: base.dbCode }),
  });
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
  readonly #parent: QualifiedName;
  readonly #column: string;
  readonly #interval: PartitionInterval;
  readonly #now: () => Date;
  readonly #lockTimeoutMs: number;
  readonly #advisoryLockTimeoutMs: number;
  readonly #logger: Logger;
  readonly #configError: BackfillError | undefined;

  /**
   * Validates the config once. A bad config does not throw: every method
   * then returns the error (`INVALID_IDENTIFIER` or `INVALID_ARGUMENT`).
   */
  constructor(config: PartitionManagerConfig) {
    this.#pg = new PgHandle(config.pg);
    this.#interval = config.interval ?? 'month';
    const now = config.now;
    this.#now = now === undefined ? () => new Date() : typeof now === 'function' ? now : () => now;
    this.#lockTimeoutMs = config.lockTimeoutMs ?? DEFAULT_PARTITION_LOCK_TIMEOUT_MS;
    this.#advisoryLockTimeoutMs = config.advisoryLockTimeoutMs ?? DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS;
    this.#logger = config.logger ?? silentLogger;
    const parent = parseQualifiedName(config.table);
    const column = validateIdentifier(config.column, 'partition column');
    this.#parent = parent.unwrapOr({ schema: '', name: '', sql: '' });
    this.#column = column.unwrapOr('');
    this.#configError = parent.isErr()
      ? parent.error
      : column.isErr()
        ? column.error
        : !PARTITION_INTERVALS.includes(this.#interval)
          ? invalid(`interval must be one of ${PARTITION_INTERVALS.join(', ')}; got ${String(config.interval)}.`)
          : Buffer.byteLength(this.#parent.name) + LONGEST_SUFFIX > 63
            ? new BackfillError(
                'INVALID_IDENTIFIER',
                `table name ${this.#parent.name} leaves no room for a partition suffix within 63 bytes.`,
              )
            : [this.#lockTimeoutMs, this.#advisoryLockTimeoutMs].some((ms) => !Number.isInteger(ms) || ms < 1)
              ? invalid('lockTimeoutMs and advisoryLockTimeoutMs must be positive integers (milliseconds).')
              : undefined;
  }

  /**
   * The slot (name and bounds) that holds `at`.
   *
   * @example
   * ```ts
   * boms.slotFor(new Date('2026-11-23T15:00:00Z')); // { name: 'artifact_boms_2026_11', from: 2026-11-01, to: 2026-12-01 }
   * ```
   */
  slotFor(at: Date): PartitionSlot {
    return this.#slot(floorToInterval(at, this.#interval));
  }

  #slot(start: Date): PartitionSlot {
    return {
      name: `${this.#parent.name}${partitionSuffix(start, this.#interval)}`,
      from: start,
      to: addIntervals(start, this.#interval, 1),
    };
  }

  #sqlOf(name: string): string {
    return `${quoteIdent(this.#parent.schema)}.${quoteIdent(name)}`;
  }

  #range(slot: PartitionSlot, keyType: Snapshot['keyType']): { from: string; to: string; where: string } {
    const from = boundLiteral(slot.from, keyType);
    const to = boundLiteral(slot.to, keyType);
    const col = quoteIdent(this.#column);
    return { from, to, where: `${col} >= ${from} AND ${col} < ${to}` };
  }

  #run<T>(what: string, fn: (client: PgClientLike) => Promise<T>): ResultAsync<T, BackfillError> {
    if (this.#configError) return errAsync(this.#configError);
    const context = { table: `${this.#parent.schema}.${this.#parent.name}` };
    return ResultAsync.fromPromise(this.#pg.withClient(fn), (e) => pgErrorToBackfill(e, context, `${what} ${context.table}`));
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
    return this.#run('list', async (client) => [
      ...(await readSnapshot(client, this.#parent, this.#column, this.#interval, this.#lockTimeoutMs)).partitions,
    ]);
  }

  /**
   * Creates the current partition, `ahead` future ones and `behind` past ones;
   * with `fillGaps`, also every missing slot between the oldest managed
   * partition and that window. Idempotent; two concurrent runs serialise on
   * an advisory lock. Rows already sitting in the default partition for a
   * new slot are moved into it in the same transaction that creates it.
   *
   * A slot whose name is held by a table that is not a partition of this
   * parent (say a restored month whose attach was refused) does not stop the
   * others: every other slot is created, then the call returns
   * `PARTITION_NAME_TAKEN` naming the table, with the created slots in
   * `error.context.partial`.
   *
   * @example
   * ```ts
   * const result = await boms.ensure({ ahead: 2 });
   * if (result.isErr()) throw result.error;
   * const r = result.value;
   * console.log(r.created.map((c) => c.name), r.existing.length);
   * ```
   */
  ensure(options: EnsureOptions = {}): ResultAsync<EnsureReport, BackfillError> {
    return this.#run('ensure', async (client) => {
      const ahead = countOption(options.ahead, 'ahead', DEFAULT_PARTITIONS_AHEAD);
      const behind = countOption(options.behind, 'behind', DEFAULT_PARTITIONS_BEHIND);
      const batchSize = Math.max(1, countOption(options.batchSize, 'batchSize', DEFAULT_PARTITION_CREATE_BATCH));
      const fillGaps = options.fillGaps ?? false;
      if (typeof fillGaps !== 'boolean') throw invalid(`fillGaps must be true or false; got ${String(options.fillGaps)}.`);
      const logger = options.logger ?? this.#logger;
      const current = floorToInterval(this.#now(), this.#interval);
      const first = addIntervals(current, this.#interval, -behind);
      const last = addIntervals(current, this.#interval, ahead);
      return withAdvisoryLock(client, this.#parent, this.#advisoryLockTimeoutMs, async () => {
        const snap = await readSnapshot(client, this.#parent, this.#column, this.#interval, this.#lockTimeoutMs);
        const { todo, existing } = this.#plan(snap, first, last, fillGaps);
        const created: CreatedPartition[] = [];
        const taken: PartitionSlot[] = [];
        const def = snap.defaultPartition;
        let columns: string | undefined;
        // Rows in the default partition make CREATE fail with 23514 ("would be
        // violated"); only then is the slower move sequence needed.
        const createOne = async (slot: PartitionSlot): Promise<number> => {
          try {
            await runDdl(client, this.#lockTimeoutMs, this.#createSql(slot, snap));
            return 0;
          } catch (error) {
            if (def === undefined || sqlstateOf(error) !== '23514') throw error;
            columns ??= await insertableColumns(client, this.#parent);
            return this.#createBesideDefault(client, slot, snap, def, columns);
          }
        };
        for (let i = 0; i < todo.length; i += batchSize) {
          const chunk = todo.slice(i, i + batchSize);
          const lead = chunk[0]!;
          const aborted = abortError(options.signal, { partition: lead.name, partial: { created, existing } });
          if (aborted) throw aborted;
          const done: CreatedPartition[] = [];
          try {
            // A short batch per round trip and commit: the parent's ACCESS EXCLUSIVE lock lasts a few CREATEs, not the whole run.
            await runDdl(client, this.#lockTimeoutMs, ...chunk.map((slot) => this.#createSql(slot, snap)));
            done.push(...chunk.map((slot) => ({ ...slot, rowsMovedFromDefault: 0 })));
          } catch (error) {
            // Rows parked in the default partition, or a name held by another table, justify retrying slot by slot.
            const code = sqlstateOf(error);
            if (code !== DUPLICATE_TABLE && (def === undefined || code !== '23514')) {
              throw pgErrorToBackfill(error, { partition: lead.name, partial: { created, existing } }, `ensure ${lead.name}`);
            }
            for (const slot of chunk) {
              try {
                done.push({ ...slot, rowsMovedFromDefault: await createOne(slot) });
              } catch (inner) {
                if (sqlstateOf(inner) === DUPLICATE_TABLE) {
                  taken.push(slot);
                  continue;
                }
                throw pgErrorToBackfill(
                  inner,
                  { partition: slot.name, partial: { created: [...created, ...done], existing } },
                  `ensure ${slot.name}`,
                );
              }
            }
          }
          for (const c of done) {
            created.push(c);
            logger.info('partition created', {
              partition: c.name,
              from: c.from.toISOString(),
              to: c.to.toISOString(),
              rowsMovedFromDefault: c.rowsMovedFromDefault,
            });
          }
          options.onProgress?.({ phase: 'create', partition: chunk[chunk.length - 1]!.name, done: created.length, total: todo.length });
        }
        if (taken.length > 0) throw await this.#nameTaken(client, taken, { created, existing });
        return { created, existing };
      });
    });
  }

  /**
   * `PARTITION_NAME_TAKEN` for the slots whose name another relation holds,
   * saying what each one is and how to free the name.
   */
  async #nameTaken(client: PgClientLike, taken: readonly PartitionSlot[], partial: EnsureReport): Promise<BackfillError> {
    const { rows } = (await client.query(
      `SELECT c.relname::text AS name, c.relkind::text AS kind, c.relispartition AS is_partition
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
      [this.#parent.schema, taken.map((t) => t.name)],
    )) as PgQueryResult<{ name: string; kind: string; is_partition: boolean }>;
    const what = (name: string): string => {
      const row = rows.find((r) => r.name === name);
      if (row === undefined) return 'a relation';
      if (row.is_partition) return 'a partition of another table';
      return RELKIND_NAMES[row.kind] ?? `a relation of kind ${row.kind}`;
    };
    const parent = `${this.#parent.schema}.${this.#parent.name}`;
    const each = taken.map(
      (t) =>
        `${this.#parent.schema}.${t.name} (${what(t.name)}) holds the name of the partition [${t.from.toISOString()}, ${t.to.toISOString()})`,
    );
    const example = `${this.#parent.schema}.${taken[0]!.name}`;
    return new BackfillError(
      'PARTITION_NAME_TAKEN',
      `${each.join('; ')}, so ensure could not create it; every other slot of ${parent} was created (${partial.created.length} new). ` +
        `If it is a restored partition, attach it (backfill-kit partitions attach ${example}); otherwise rename or drop it. Then run ensure again: until then rows for that range have no partition.`,
      { context: { table: parent, partition: taken[0]!.name, taken: taken.map((t) => `${this.#parent.schema}.${t.name}`), partial } },
    );
  }

  /** Which slots of the window (and, with `fillGaps`, of gaps between managed partitions) need creating. */
  #plan(snap: Snapshot, first: Date, last: Date, fillGaps: boolean): { todo: PartitionSlot[]; existing: EnsureReport['existing'] } {
    const ranged = snap.partitions.filter((p): p is PartitionInfo & { from: Date; to: Date } => p.from !== null && p.to !== null);
    let lo = first.getTime();
    let hi = last.getTime();
    for (const p of fillGaps ? ranged : []) {
      if (!p.managed) continue;
      lo = Math.min(lo, p.from.getTime());
      hi = Math.max(hi, p.from.getTime());
    }
    const todo: PartitionSlot[] = [];
    const existing: (PartitionSlot & { coveredBy: string })[] = [];
    let start = new Date(lo);
    for (let n = 0; start.getTime() <= hi; n++, start = addIntervals(start, this.#interval, 1)) {
      if (n > MAX_SLOTS) throw invalid(`more than ${MAX_SLOTS} slots between the oldest partition and the window; check the interval.`);
      const slot = this.#slot(start);
      const inWindow = start.getTime() >= first.getTime() && start.getTime() <= last.getTime();
      const cover = ranged.find((p) => p.from.getTime() <= slot.from.getTime() && p.to.getTime() >= slot.to.getTime());
      if (cover) {
        if (inWindow) existing.push({ ...slot, coveredBy: cover.name });
        continue;
      }
      const overlap = ranged.find((p) => p.from.getTime() < slot.to.getTime() && p.to.getTime() > slot.from.getTime());
      if (overlap === undefined) todo.push(slot);
      else if (inWindow) {
        throw new BackfillError(
          'PARTITION_OVERLAP',
          `${slot.name} [${slot.from.toISOString()}, ${slot.to.toISOString()}) overlaps partition ${overlap.schema}.${overlap.name} (${overlap.bound}); nothing was created. Detach or drop ${overlap.name} first.`,
          { context: { partition: slot.name, overlaps: overlap.name } },
        );
      }
    }
    return { todo, existing };
  }

  #createSql(slot: PartitionSlot, snap: Snapshot): string {
    const r = this.#range(slot, snap.keyType);
    return `CREATE TABLE ${this.#sqlOf(slot.name)} PARTITION OF ${this.#parent.sql} FOR VALUES FROM (${r.from}) TO (${r.to})`;
  }

  /**
   * When the default partition holds rows for the slot, writers are paused (SHARE ROW EXCLUSIVE on the
   * parent, readers continue) so no new row can land in the default for this
   * range; its rows move out to a temporary table, the partition is created
   * (PostgreSQL's default-partition check now passes) and the rows move in.
   * One transaction: readers see the rows in the default or in the new
   * partition, never in neither.
   */
  async #createBesideDefault(
    client: PgClientLike,
    slot: PartitionSlot,
    snap: Snapshot,
    def: PartitionInfo,
    columns: string,
  ): Promise<number> {
    const r = this.#range(slot, snap.keyType);
    return inDdlTransaction(client, this.#lockTimeoutMs, async () => {
      await client.query(`LOCK TABLE ${this.#parent.sql} IN SHARE ROW EXCLUSIVE MODE`);
      const { rows } = (await client.query(`SELECT EXISTS (SELECT 1 FROM ${def.sql} WHERE ${r.where}) AS stuck`)) as PgQueryResult<{
        stuck: boolean;
      }>;
      if (rows[0]?.stuck !== true) {
        await client.query(this.#createSql(slot, snap));
        return 0;
      }
      const holding = quoteIdent('backfill_kit_moving');
      await client.query(`CREATE TEMPORARY TABLE ${holding} ON COMMIT DROP AS SELECT ${columns} FROM ${this.#parent.sql} WITH NO DATA`);
      const moved = await moveRows(client, def.sql, `pg_temp.${holding}`, columns, r.where);
      await client.query(this.#createSql(slot, snap));
      await moveRows(client, `pg_temp.${holding}`, this.#sqlOf(slot.name), columns, 'true');
      return moved;
    });
  }

  /**
   * Plans (and with `dryRun: false` carries out) retention: partitions that
   * follow the naming rule and whose upper bound is at or before the start of
   * the oldest kept interval. Look-alikes (`<parent>_backup`,
   * `<parent>_2024_13`, wrong bounds) are listed under `ignored` and never
   * touched.
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
  retention(options: RetentionOptions = {}): ResultAsync<RetentionReport, BackfillError> {
    return this.#run('retention', async (client) => {
      const keep = countOption(options.keep, 'keep', DEFAULT_RETENTION_KEEP);
      const dryRun = options.dryRun ?? DEFAULT_RETENTION_DRY_RUN;
      const mode = options.mode ?? DEFAULT_RETENTION_MODE;
      if (typeof dryRun !== 'boolean') throw invalid(`dryRun must be true or false; got ${String(options.dryRun)}.`);
      if (mode !== 'drop' && mode !== 'detach') throw invalid(`mode must be "drop" or "detach"; got ${String(options.mode)}.`);
      const cutoff = addIntervals(floorToInterval(this.#now(), this.#interval), this.#interval, -keep);
      const plan = (snap: Snapshot): RetentionReport => ({
        dryRun,
        mode,
        cutoff,
        candidates: snap.partitions
          .filter(
            (p): p is PartitionInfo & { from: Date; to: Date } =>
              p.managed && p.to !== null && p.from !== null && p.to.getTime() <= cutoff.getTime(),
          )
          .map((p) => ({
            name: p.name,
            from: p.from,
            to: p.to,
            estimatedRows: p.estimatedRows,
            sizeBytes: p.sizeBytes,
            action: mode,
            concurrently: options.concurrently === true && snap.defaultPartition === undefined,
            done: false,
          })),
        ignored: snap.partitions.filter((p) => !p.managed).map((p) => ({ name: p.name, reason: p.reason ?? '' })),
      });
      if (dryRun) return plan(await readSnapshot(client, this.#parent, this.#column, this.#interval, this.#lockTimeoutMs));
      return withAdvisoryLock(client, this.#parent, this.#advisoryLockTimeoutMs, async () => {
        const snap = await readSnapshot(client, this.#parent, this.#column, this.#interval, this.#lockTimeoutMs);
        const report = plan(snap);
        const candidates: RetentionCandidate[] = [...report.candidates];
        const logger = options.logger ?? this.#logger;
        for (const [i, c] of candidates.entries()) {
          const partial = { ...report, candidates: [...candidates] };
          const aborted = abortError(options.signal, { partition: c.name, partial });
          if (aborted) throw aborted;
          const pending = snap.partitions.find((p) => p.name === c.name)?.detachPending === true;
          try {
            await this.#expire(client, c, pending);
          } catch (error) {
            throw pgErrorToBackfill(error, { partition: c.name, partial }, `retention ${c.action} ${c.name}`);
          }
          candidates[i] = { ...c, done: true };
          logger.info(`partition ${mode === 'drop' ? 'dropped' : 'detached'}`, {
            partition: c.name,
            to: c.to.toISOString(),
            cutoff: cutoff.toISOString(),
          });
          options.onProgress?.({ phase: mode, partition: c.name, done: i + 1, total: candidates.length });
        }
        return { ...report, candidates };
      });
    });
  }

  async #expire(client: PgClientLike, c: RetentionCandidate, detachPending: boolean): Promise<void> {
    const child = this.#sqlOf(c.name);
    const detach = `ALTER TABLE ${this.#parent.sql} DETACH PARTITION ${child}`;
    if (detachPending) {
      await runDdl(client, this.#lockTimeoutMs, `${detach} FINALIZE`);
    } else if (c.concurrently) {
      // CONCURRENTLY refuses to run in a transaction block, so SET LOCAL cannot apply.
      await withSessionLockTimeout(client, this.#lockTimeoutMs, () => client.query(`${detach} CONCURRENTLY`));
    } else if (c.action === 'detach') {
      await runDdl(client, this.#lockTimeoutMs, detach);
    }
    if (c.action === 'drop') await runDdl(client, this.#lockTimeoutMs, `DROP TABLE ${child}`);
  }

  /**
   * Re-attaches a table restored from backup (the partition runbook's rollback step). The name
   * must follow the naming rule; every row must lie inside the bounds it
   * implies (otherwise `PARTITION_OUT_OF_RANGE` names the first offending
   * row's key). A CHECK constraint matching the bounds is added first so
   * ATTACH skips its validation scan, then dropped. PostgreSQL builds any of
   * the parent's indexes the table lacks; the report lists them.
   *
   * @example
   * ```ts
   * const r = await boms.attach('scanner.artifact_boms_2025_03');
   * if (r.isErr() && r.error.code === 'PARTITION_OUT_OF_RANGE') console.error(r.error.message);
   * ```
   */
  attach(tableName: string, options: PartitionCallOptions = {}): ResultAsync<AttachReport, BackfillError> {
    if (this.#configError) return errAsync(this.#configError);
    const parsed = parseQualifiedName(tableName, this.#parent.schema);
    if (parsed.isErr()) return errAsync(parsed.error);
    const target = parsed.value;
    const start = target.name.startsWith(this.#parent.name)
      ? parsePartitionSuffix(target.name.slice(this.#parent.name.length), this.#interval)
      : undefined;
    if (target.schema !== this.#parent.schema || start === undefined) {
      return errAsync(
        new BackfillError(
          'PARTITION_NAME_INVALID',
          `${target.schema}.${target.name} is not named like a ${this.#interval} partition of ${this.#parent.schema}.${this.#parent.name} (e.g. ${this.slotFor(this.#now()).name}); rename it first.`,
          {
            context: { partition: target.name },
          },
        ),
      );
    }
    const slot = this.#slot(start);
    return this.#run('attach', async (client) => {
      const snap = await readSnapshot(client, this.#parent, this.#column, this.#interval, this.#lockTimeoutMs);
      const context = { partition: slot.name };
      const same = snap.partitions.find((p) => p.schema === target.schema && p.name === target.name);
      if (same?.managed) return { ...slot, alreadyAttached: true, rowsMovedFromDefault: 0, indexesCreated: [] };
      if (same) throw new BackfillError('PARTITION_NAME_INVALID', `${slot.name} is already attached, but ${same.reason}.`, { context });
      const overlap = snap.partitions.find((p) => p.from !== null && p.to !== null && p.from < slot.to && p.to > slot.from);
      if (overlap) {
        throw new BackfillError(
          'PARTITION_OVERLAP',
          `${slot.name} would overlap partition ${overlap.name} (${overlap.bound}); detach or drop it first.`,
          { context: { ...context, overlaps: overlap.name } },
        );
      }
      const aborted = abortError(options.signal, context);
      if (aborted) throw aborted;
      const info = await this.#tableInfo(client, target);
      if (info.isPartition)
        throw invalid(`${target.schema}.${target.name} is already a partition of another table; detach it first.`, context);
      const range = this.#range(slot, snap.keyType);
      await this.#refuseOutOfRange(client, target, slot, range.where, info.key);
      await runDdl(
        client,
        this.#lockTimeoutMs,
        `ALTER TABLE ${target.sql} DROP CONSTRAINT IF EXISTS ${quoteIdent(ATTACH_CHECK_NAME)}`,
        `ALTER TABLE ${target.sql} ADD CONSTRAINT ${quoteIdent(ATTACH_CHECK_NAME)} CHECK (${quoteIdent(this.#column)} IS NOT NULL AND ${range.where})`,
      );
      const attachSql = `ALTER TABLE ${this.#parent.sql} ATTACH PARTITION ${target.sql} FOR VALUES FROM (${range.from}) TO (${range.to})`;
      const dropCheck = `ALTER TABLE ${target.sql} DROP CONSTRAINT ${quoteIdent(ATTACH_CHECK_NAME)}`;
      let moved = 0;
      const def = snap.defaultPartition;
      try {
        if (def === undefined) {
          await runDdl(client, this.#lockTimeoutMs, attachSql, dropCheck);
        } else {
          const columns = await insertableColumns(client, this.#parent);
          moved = await inDdlTransaction(client, this.#lockTimeoutMs, async () => {
            await client.query(`LOCK TABLE ${this.#parent.sql} IN SHARE ROW EXCLUSIVE MODE`);
            const n = await moveRows(client, def.sql, target.sql, columns, range.where);
            await client.query(attachSql);
            await client.query(dropCheck);
            return n;
          });
        }
      } catch (error) {
        // Leave the restored table as we found it (best effort; the next attach drops it anyway).
        await runDdl(
          client,
          this.#lockTimeoutMs,
          `ALTER TABLE ${target.sql} DROP CONSTRAINT IF EXISTS ${quoteIdent(ATTACH_CHECK_NAME)}`,
        ).catch(() => undefined);
        throw error;
      }
      const after = await this.#tableInfo(client, target);
      const indexesCreated = after.indexes.filter((i) => !info.indexes.includes(i));
      (options.logger ?? this.#logger).info('partition attached', { partition: slot.name, rowsMovedFromDefault: moved, indexesCreated });
      options.onProgress?.({ phase: 'attach', partition: slot.name, done: 1, total: 1 });
      return { ...slot, alreadyAttached: false, rowsMovedFromDefault: moved, indexesCreated };
    });
  }

  async #tableInfo(client: PgClientLike, t: QualifiedName): Promise<{ isPartition: boolean; key: string[]; indexes: string[] }> {
    const { rows } = (await client.query(
      `SELECT c.relkind::text AS kind, c.relispartition AS is_partition,
        (SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.ord)
           FROM pg_catalog.pg_index i
           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = c.oid AND i.indisprimary) AS key,
        (SELECT pg_catalog.array_agg(ic.relname::text ORDER BY ic.relname)
           FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
          WHERE i.indrelid = c.oid) AS indexes
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = $2`,
      [t.schema, t.name],
    )) as PgQueryResult<{ kind: string; is_partition: boolean; key: string[] | null; indexes: string[] | null }>;
    const row = rows[0];
    const context = { partition: t.name };
    if (row === undefined)
      throw new BackfillError('TABLE_NOT_FOUND', `${t.schema}.${t.name} does not exist; restore it from backup first.`, { context });
    if (row.kind !== 'r') throw invalid(`${t.schema}.${t.name} is not a plain table (relkind ${row.kind}).`, context);
    return { isPartition: row.is_partition, key: row.key ?? [], indexes: row.indexes ?? [] };
  }

  async #refuseOutOfRange(client: PgClientLike, t: QualifiedName, slot: PartitionSlot, where: string, key: string[]): Promise<void> {
    const col = quoteIdent(this.#column);
    const keyCols = key.length > 0 ? key : ['ctid'];
    const select = keyCols.map((k, i) => `${k === 'ctid' ? 'ctid' : quoteIdent(k)}::text AS k${i}`).join(', ');
    const { rows } = (await client.query(
      `SELECT ${select}, ${col}::text AS v FROM ${t.sql} WHERE NOT (${col} IS NOT NULL AND ${where}) LIMIT 1`,
    )) as PgQueryResult<Record<string, string | null>>;
    const row = rows[0];
    if (row === undefined) return;
    const id = keyCols.map((k, i) => `${k}=${row[`k${i}`] ?? 'NULL'}`).join(', ');
    throw new BackfillError(
      'PARTITION_OUT_OF_RANGE',
      `${t.schema}.${t.name}: row ${id} has ${this.#column} = ${row.v ?? 'NULL'}, outside [${slot.from.toISOString()}, ${slot.to.toISOString()}). Move or delete it, then attach again; nothing was changed.`,
      { context: { partition: t.name, id } },
    );
  }

  /**
   * VACUUM / ANALYZE / REINDEX one partition, never the parent. Every step
   * runs under `lock_timeout`; REINDEX runs `CONCURRENTLY` by default.
   *
   * A `REINDEX … CONCURRENTLY` that fails (a lock timeout, a cancel, a lost
   * connection) leaves INVALID `<index>_ccnew` / `_ccold` indexes behind,
   * which every write keeps paying for. Each call first drops the ones it
   * finds on this partition (listed in `invalidIndexesDropped`), and a
   * failed rebuild drops its own at once when it can; when it cannot (the
   * blocking session still runs), the error names them and the fix.
   *
   * @example
   * ```ts
   * await boms.maintain('artifact_boms_2026_11', { vacuum: true, analyze: true, reindex: true });
   * ```
   */
  maintain(partition: string, options: MaintainOptions = {}): ResultAsync<MaintainReport, BackfillError> {
    if (this.#configError) return errAsync(this.#configError);
    const parsed = parseQualifiedName(partition, this.#parent.schema);
    if (parsed.isErr()) return errAsync(parsed.error);
    const target = parsed.value;
    const vacuum = options.vacuum ?? true;
    const analyze = options.analyze ?? true;
    const reindex = options.reindex ?? false;
    const concurrently = options.concurrently ?? true;
    if (!vacuum && !analyze && !reindex) return errAsync(invalid('maintain needs at least one of vacuum, analyze or reindex.'));
    return this.#run('maintain', async (client) => {
      const snap = await readSnapshot(client, this.#parent, this.#column, this.#interval, this.#lockTimeoutMs);
      const part = snap.partitions.find((p) => p.schema === target.schema && p.name === target.name);
      if (part === undefined) {
        throw new BackfillError(
          'TABLE_NOT_FOUND',
          `${target.schema}.${target.name} is not a partition of ${this.#parent.schema}.${this.#parent.name}; maintain works on one partition at a time.`,
          {
            context: { partition: target.name },
          },
        );
      }
      const plan: MaintainReport['steps'][number]['step'][] = [];
      if (vacuum) plan.push('vacuum');
      else if (analyze) plan.push('analyze');
      if (reindex) plan.push('reindex');
      const sqlFor = (step: (typeof plan)[number]): string =>
        step === 'vacuum'
          ? `VACUUM ${analyze ? '(ANALYZE) ' : ''}${part.sql}`
          : step === 'analyze'
            ? `ANALYZE ${part.sql}`
            : `REINDEX TABLE ${concurrently ? 'CONCURRENTLY ' : ''}${part.sql}`;
      const size = async (): Promise<number> =>
        Number(
          (
            (await client.query('SELECT pg_catalog.pg_total_relation_size($1::regclass)::text AS s', [part.sql])) as PgQueryResult<{
              s: string;
            }>
          ).rows[0]?.s ?? 0,
        );
      const qualified = `${part.schema}.${part.name}`;
      const sizeBytesBefore = await size();
      const steps: { step: (typeof plan)[number]; sql: string; seconds: number }[] = [];
      const invalidIndexesDropped: string[] = [];
      await withSessionLockTimeout(client, this.#lockTimeoutMs, async () => {
        const stale = await rebuildLeftovers(client, part);
        try {
          await dropIndexesConcurrently(client, part.schema, stale, invalidIndexesDropped);
        } catch (error) {
          throw leftoverError(
            error,
            part,
            `maintain ${qualified}: dropping the invalid indexes a failed REINDEX CONCURRENTLY left`,
            stale,
            invalidIndexesDropped,
            { steps },
          );
        }
        for (const [i, step] of plan.entries()) {
          const aborted = abortError(options.signal, { partition: part.name, partial: { steps, invalidIndexesDropped } });
          if (aborted) throw aborted;
          const sql = sqlFor(step);
          const t0 = performance.now();
          try {
            await client.query(sql);
          } catch (error) {
            if (step !== 'reindex' || !concurrently)
              throw pgErrorToBackfill(
                error,
                { partition: part.name, partial: { steps, invalidIndexesDropped } },
                `maintain ${qualified}: ${sql}`,
              );
            // A failed concurrent rebuild leaves its half-built indexes: drop them now if the blocker is gone.
            const left = await rebuildLeftovers(client, part).catch(() => []);
            const dropped: string[] = [];
            await dropIndexesConcurrently(client, part.schema, left, dropped).catch(() => undefined);
            throw leftoverError(error, part, `maintain ${qualified}: ${sql}`, left, dropped, { steps, invalidIndexesDropped });
          }
          steps.push({ step, sql, seconds: (performance.now() - t0) / 1000 });
          options.onProgress?.({ phase: step, partition: part.name, done: i + 1, total: plan.length });
        }
      });
      (options.logger ?? this.#logger).info('partition maintained', {
        partition: part.name,
        steps: steps.map((s) => s.step),
        invalidIndexesDropped,
      });
      return { partition: part.name, steps, invalidIndexesDropped, sizeBytesBefore, sizeBytesAfter: await size() };
    });
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
    if (this.#configError) return errAsync(this.#configError);
    let statements: string[];
    try {
      statements = this.#parentDdl(options);
    } catch (error) {
      return errAsync(error as BackfillError);
    }
    return this.#run('createParent', async (client) => {
      await inDdlTransaction(client, this.#lockTimeoutMs, async () => {
        for (const s of statements) await client.query(s);
      });
      this.#logger.info('partitioned table created', { table: `${this.#parent.schema}.${this.#parent.name}` });
    });
  }

  #parentDdl(options: CreateParentOptions): string[] {
    const ident = (v: string, what: string): string => {
      const r = validateIdentifier(v, what);
      if (r.isErr()) throw r.error;
      return quoteIdent(r.value);
    };
    const names = new Set<string>();
    const cols = (options.columns ?? []).map((c) => {
      if (typeof c?.type !== 'string' || !SQL_TYPE.test(c.type))
        throw invalid(`column ${String(c?.name)}: type ${JSON.stringify(c?.type)} is not a plain SQL type name.`);
      names.add(c.name);
      return `${ident(c.name, 'column name')} ${c.type}${c.notNull ? ' NOT NULL' : ''}`;
    });
    if (!names.has(this.#column)) throw invalid(`columns must include the partition column ${this.#column}.`);
    const known = (list: readonly string[], what: string): string => {
      if (list.length === 0) throw invalid(`${what} needs at least one column.`);
      for (const n of list) if (!names.has(n)) throw invalid(`${what} names unknown column ${JSON.stringify(n)}.`);
      return list.map((n) => quoteIdent(n)).join(', ');
    };
    if (options.primaryKey) {
      if (!options.primaryKey.includes(this.#column))
        throw invalid(`primaryKey must include the partition column ${this.#column} (a PostgreSQL rule for partitioned tables).`);
      cols.push(`PRIMARY KEY (${known(options.primaryKey, 'primaryKey')})`);
    }
    const out = [
      `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.#parent.schema)}`,
      `CREATE TABLE ${this.#parent.sql} (${cols.join(', ')}) PARTITION BY RANGE (${quoteIdent(this.#column)})`,
    ];
    for (const idx of options.indexes ?? []) {
      const list = known(idx.columns ?? [], 'index');
      const name = ident(idx.name ?? `${this.#parent.name}_${idx.columns.join('_')}_idx`, 'index name');
      out.push(`CREATE ${idx.unique ? 'UNIQUE ' : ''}INDEX ${name} ON ${this.#parent.sql} (${list})`);
    }
    if (options.defaultPartition)
      out.push(`CREATE TABLE ${this.#sqlOf(`${this.#parent.name}${DEFAULT_PARTITION_SUFFIX}`)} PARTITION OF ${this.#parent.sql} DEFAULT`);
    return out;
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
