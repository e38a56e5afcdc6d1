/**
 * How the manager runs DDL: every statement under `lock_timeout`, short
 * transactions, one advisory lock per parent, and the row move out of the
 * default partition.
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { inTransaction, pgErrorToBackfill, type PgClientLike, type PgQueryResult } from '../_internals/pg.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import { throwIfAborted } from './slots.js';
import * as sql from './sql.js';
import type { PartitionInfo, PartitionSlot } from './types.js';

/**
 * Runs `statements` as one implicit transaction in a single round trip, with
 * `SET LOCAL lock_timeout` first so a busy table yields `LOCK_TIMEOUT` instead
 * of a queue of blocked sessions behind us.
 */
export async function runDdl(client: PgClientLike, lockTimeoutMs: number, ...statements: string[]): Promise<void> {
  await client.query([sql.setLocalLockTimeout(lockTimeoutMs), ...statements].join(';\n'));
}

/** What {@link runDdlUnlessAborted} stops on, and the words its `ABORTED` says. */
export interface DdlStop {
  readonly signal: AbortSignal | undefined;
  /** The partition the statements are for (the error's context). */
  readonly partition: string;
  /** What does not happen when stopped, as a clause: `artifact_boms_2025_08 was not dropped`. */
  readonly notDone: string;
}

/**
 * {@link runDdl} that a signal stops before COMMIT. The statements' locks
 * may wait (up to `lockTimeoutMs`) for a reader; a signal that fires
 * meanwhile rolls them back once they are granted instead of committing
 * them, as the staging swap does. Without a signal it is `runDdl`, in one
 * round trip.
 */
export async function runDdlUnlessAborted(
  client: PgClientLike,
  lockTimeoutMs: number,
  stop: DdlStop,
  ...statements: string[]
): Promise<void> {
  if (stop.signal === undefined) return runDdl(client, lockTimeoutMs, ...statements);
  throwIfAborted(stop.signal, { partition: stop.partition });
  try {
    await client.query(['BEGIN', sql.setLocalLockTimeout(lockTimeoutMs), ...statements].join(';\n'));
    throwIfAborted(stop.signal, { partition: stop.partition }, stop.notDone);
  } catch (error) {
    await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
    throw error;
  }
  await client.query('COMMIT');
}

/**
 * Runs `fn` inside BEGIN/COMMIT with `SET LOCAL lock_timeout`, for sequences
 * that need results between statements.
 */
export async function inDdlTransaction<T>(client: PgClientLike, lockTimeoutMs: number, fn: () => Promise<T>): Promise<T> {
  return inTransaction(client, async () => {
    await client.query(sql.setLocalLockTimeout(lockTimeoutMs));
    return fn();
  });
}

/**
 * For statements PostgreSQL refuses inside a transaction block (VACUUM,
 * `… CONCURRENTLY`): sets `lock_timeout` for the session and restores the
 * caller's value afterwards, even on failure.
 */
export async function withSessionLockTimeout<T>(client: PgClientLike, lockTimeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const { rows } = (await client.query(sql.swapSessionLockTimeout, [`${lockTimeoutMs}ms`])) as PgQueryResult<{ v: string }>;
  try {
    return await fn();
  } finally {
    await Promise.resolve(client.query(sql.restoreSessionLockTimeout, [rows[0]?.v ?? '0'])).catch(() => undefined);
  }
}

/** A stable 64-bit advisory-lock key per parent table, the same in every process. */
export function advisoryKey(parent: QualifiedName): string {
  return createHash('sha256')
    .update(`@stella/backfill-kit/partitions:${parent.schema}.${parent.name}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}

/**
 * Holds the parent's session-level advisory lock while `fn` runs, so two
 * `ensure`/`retention`/`attach` runs never interleave. Waiting longer than
 * `timeoutMs` returns `LOCKED`.
 */
export async function withAdvisoryLock<T>(
  client: PgClientLike,
  parent: QualifiedName,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const key = advisoryKey(parent);
  try {
    await client.query(sql.advisoryLock(key, timeoutMs));
  } catch (error) {
    const mapped = pgErrorToBackfill(error, { table: `${parent.schema}.${parent.name}` });
    if (mapped.code !== 'LOCK_TIMEOUT') throw mapped;
    const holder = await advisoryHolder(client, key);
    const table = `${parent.schema}.${parent.name}`;
    const who =
      holder === undefined
        ? ''
        : ` It is pid ${holder.pid} (${[
            holder.app === '' ? 'no application name' : `application ${JSON.stringify(holder.app)}`,
            holder.client === '' ? '' : `from ${holder.client}`,
            holder.connected === '' ? '' : `connected since ${holder.connected}`,
            holder.state === '' ? '' : `${holder.state}${holder.since === '' ? '' : ` since ${holder.since}`}`,
          ]
            .filter((x) => x !== '')
            .join(', ')}). If that run's process is gone (killed, its host restarted) while its session still works on ${table}, ` +
          `the session finishes (or fails) what it started and then lets go; to stop it now, SELECT pg_terminate_backend(${holder.pid}) (what it had not committed is rolled back).`;
    throw new BackfillError(
      'LOCKED',
      `Another run is managing ${table} and held its lock for more than ${timeoutMs} ms; try again later.${who}`,
      {
        cause: error,
        context: { table, ...(holder === undefined ? {} : { holder: holder.pid }) },
      },
    );
  }
  try {
    return await fn();
  } finally {
    await Promise.resolve(client.query(sql.advisoryUnlock(key))).catch(() => undefined);
  }
}

interface AdvisoryHolder {
  readonly pid: number;
  readonly app: string;
  readonly state: string;
  readonly client: string;
  readonly connected: string;
  readonly since: string;
}

/** The session holding the advisory lock `key`, if this role may see it; reading it is best effort. */
async function advisoryHolder(client: PgClientLike, key: string): Promise<AdvisoryHolder | undefined> {
  try {
    const { rows } = (await client.query(sql.advisoryHolder, [key])) as PgQueryResult<AdvisoryHolder>;
    return rows[0];
  } catch {
    return undefined;
  }
}

interface ReferencingKey {
  readonly name: string;
  readonly referencing: string;
  readonly on_delete: string;
  readonly cols: string[];
  readonly refcols: string[];
}

/** What each ON DELETE action (`pg_constraint.confdeltype`) would do to the referencing rows of a moved row. */
const ON_DELETE: Readonly<Record<string, readonly [action: string, effect: string]>> = {
  a: ['NO ACTION', 'fail'],
  r: ['RESTRICT', 'fail'],
  c: ['CASCADE', 'delete those rows'],
  n: ['SET NULL', 'set their key to NULL'],
  d: ['SET DEFAULT', 'set their key to its default'],
};

/**
 * Moving rows out of the default partition DELETEs them there, which fires
 * the ON DELETE action of every foreign key referencing them: CASCADE would
 * delete rows of another table for good, and the others fail (even a
 * deferred NO ACTION key: PostgreSQL checks it against that partition
 * alone). Inside the move's transaction, before any row moves, refuses
 * with `TABLE_REFERENCED` when a key references a row of the range.
 */
export async function refuseReferencedMove(client: PgClientLike, from: PartitionInfo, slot: PartitionSlot, where: string): Promise<void> {
  const { rows } = (await client.query(sql.keysReferencing, [from.sql])) as PgQueryResult<ReferencingKey>;
  for (const key of rows) {
    const check = sql.anyRowReferenced(key.referencing, key.cols, from.sql, key.refcols, where);
    const { rows: hit } = (await client.query(check)) as PgQueryResult<{ hit: boolean }>;
    if (hit[0]?.hit !== true) continue;
    const [action, effect] = ON_DELETE[key.on_delete] ?? [key.on_delete, 'fail'];
    throw new BackfillError(
      'TABLE_REFERENCED',
      `${key.referencing} references rows of [${slot.from.toISOString()}, ${slot.to.toISOString()}) in ${from.schema}.${from.name} through foreign key ${key.name} (ON DELETE ${action}), and moving them into ${slot.name} deletes them there first, which would ${effect}. They stay in the default partition, and ${slot.name} was not created. Drop the key, run this again, then add it back (ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT).`,
      { context: { partition: slot.name, constraint: key.name, referencing: key.referencing } },
    );
  }
}

/** The foreign keys that reference `tableSql` (named as on the parent), each with its referencing table. */
export async function keysReferencingTable(
  client: PgClientLike,
  tableSql: string,
): Promise<Pick<ReferencingKey, 'name' | 'referencing'>[]> {
  const { rows } = (await client.query(sql.keysReferencing, [tableSql])) as PgQueryResult<ReferencingKey>;
  return rows.map(({ name, referencing }) => ({ name, referencing }));
}

/** Whether a foreign key references the parent, which makes PostgreSQL refuse `DROP TABLE` of any of its partitions. */
export async function foreignKeyReferences(client: PgClientLike, parentSql: string): Promise<boolean> {
  const { rows } = (await client.query(sql.foreignKeyReferences, [parentSql])) as PgQueryResult<{ referenced: boolean }>;
  return rows[0]?.referenced === true;
}

/** The parent's insertable columns, quoted and comma-separated, for moving rows between tables. */
export async function insertableColumns(client: PgClientLike, parent: QualifiedName): Promise<string> {
  const { rows } = (await client.query(sql.insertableColumns, [parent.schema, parent.name])) as PgQueryResult<{ cols: string }>;
  return rows[0]?.cols ?? '';
}

/**
 * Moves the rows matching `where` from one table to another in a single
 * statement (DELETE … RETURNING feeding INSERT), so no row is ever in both
 * or in neither. Returns how many moved.
 *
 * A move inside the parent is no user's DELETE or INSERT, so the users'
 * triggers on both tables do not fire for it (an audit trigger would log
 * deletions that never happened, a BEFORE INSERT trigger would rewrite the
 * rows): each enabled one is disabled for the statement and enabled again,
 * as it was, right after. Only inside the caller's transaction, which holds
 * the tables so no other session writes meanwhile; a failure rolls the
 * switch back with the rest.
 */
export async function moveRows(
  client: PgClientLike,
  move: { readonly fromSql: string; readonly toSql: string; readonly partition: string },
  columns: string,
  where: string,
): Promise<number> {
  const { fromSql, toSql } = move;
  const quiet: string[] = [];
  const restore: string[] = [];
  const named: string[] = [];
  for (const table of new Set([fromSql, toSql])) {
    const { rows } = (await client.query(sql.userTriggers, [table])) as PgQueryResult<{ name: string; enabled: string }>;
    for (const t of rows) {
      quiet.push(sql.setTrigger(table, t.name, 'D'));
      restore.push(sql.setTrigger(table, t.name, t.enabled));
    }
    if (rows.length > 0) named.push(`${rows.map((t) => t.name).join(', ')} on ${table}`);
  }
  try {
    if (quiet.length > 0) await client.query(quiet.join(';\n'));
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown };
    throw new BackfillError(
      'DB_ERROR',
      `Moving the rows of ${move.partition} out of the default partition must not fire the users' triggers (${named.join('; ')}), so they are switched off for the move, and PostgreSQL refused: ${String(e?.message)}. ` +
        `Nothing changed for ${move.partition}: its rows stay in the default partition. Run this as the owner of those tables (or a member of its role).`,
      { cause: error, context: { partition: move.partition }, ...(typeof e?.code === 'string' ? { dbCode: e.code } : {}) },
    );
  }
  const r = (await client.query(sql.moveRows(fromSql, toSql, columns, where))) as PgQueryResult;
  if (restore.length > 0) await client.query(restore.join(';\n'));
  return r.rowCount ?? 0;
}

/** The tablespace and access method the parent sets for its partitions, which a table made with `LIKE` does not take by itself, and its replica identity. */
export async function parentStorage(client: PgClientLike, parent: QualifiedName): Promise<sql.ParentStorage> {
  const { rows } = (await client.query(sql.parentStorage, [parent.sql])) as PgQueryResult<sql.ParentStorage>;
  return {
    tablespace: rows[0]?.tablespace ?? null,
    am: rows[0]?.am ?? null,
    replicaIdentity: rows[0]?.replicaIdentity ?? 'd',
    replicaIndex: rows[0]?.replicaIndex ?? null,
  };
}

/** The default partition may take the CHECK that stands in for ATTACH's scans of it (a plain table this role may alter). */
export async function defaultTakesCheck(client: PgClientLike, def: PartitionInfo): Promise<boolean> {
  const { rows } = (await client.query(sql.defaultTakesCheck, [def.sql])) as PgQueryResult<{ ok: boolean }>;
  return rows[0]?.ok === true;
}

/** The parent's owner and privileges, and what a table this role makes in its schema starts with. */
export async function parentAccess(client: PgClientLike, parent: QualifiedName): Promise<sql.ParentAccess> {
  const { rows } = (await client.query(sql.parentAccess, [parent.sql])) as PgQueryResult<
    Omit<sql.ParentAccess, 'grants' | 'columnGrants'> & { grants: string; columnGrants: string }
  >;
  const row = rows[0];
  if (row === undefined)
    throw new BackfillError('TABLE_NOT_FOUND', `${parent.schema}.${parent.name} does not exist.`, {
      context: { table: `${parent.schema}.${parent.name}` },
    });
  return {
    ...row,
    grants: JSON.parse(row.grants) as sql.ParentGrant[],
    columnGrants: JSON.parse(row.columnGrants) as sql.ParentGrant[],
  };
}

/** A partition whose privileges drifted from its parent's (see {@link sql.privilegeDrift}). */
export interface PrivilegeDrift {
  readonly name: string;
  /** The parent has row-level security: a partition should grant nothing but to its owner. */
  readonly rls: boolean;
  /** The partition's owner, quoted, when it is not the parent's. */
  readonly owner: string | null;
  /** The parent's owner, quoted. */
  readonly parentOwner: string;
  readonly missing: readonly string[];
  readonly extra: readonly string[];
}

/** The partitions named in `names` whose privileges drifted from the parent's. */
export async function privilegeDrift(client: PgClientLike, parent: QualifiedName, names: readonly string[]): Promise<PrivilegeDrift[]> {
  if (names.length === 0) return [];
  return ((await client.query(sql.privilegeDrift, [parent.sql, names])) as PgQueryResult<PrivilegeDrift>).rows;
}

/**
 * The table's size in bytes (heap, indexes, TOAST). Sizing waits for a lock
 * on the table like any reader, so it runs under `lock_timeout`: a table DDL
 * holds (a `VACUUM FULL` or `CLUSTER` of it) is `LOCK_TIMEOUT` naming it,
 * never a wait as long as that DDL, whatever the session's own
 * `lock_timeout`. One dropped meanwhile is 0.
 */
export async function sizeWithin(
  client: PgClientLike,
  table: Pick<PartitionInfo, 'schema' | 'name' | 'sql'>,
  lockTimeoutMs: number,
  what: string,
): Promise<number> {
  try {
    return (await sizesOf(client, [table.sql], lockTimeoutMs))[0] ?? 0;
  } catch (error) {
    throw pgErrorToBackfill(error, { partition: table.name }, `${what}: sizing ${table.schema}.${table.name}`);
  }
}

/**
 * {@link sizeWithin} for several tables in one round trip. When one of them
 * is locked, each is sized on its own, so the error names the table in the
 * way (a wait of `lockTimeoutMs` more).
 */
export async function sizesWithin(
  client: PgClientLike,
  tables: readonly Pick<PartitionInfo, 'schema' | 'name' | 'sql'>[],
  lockTimeoutMs: number,
  what: string,
): Promise<number[]> {
  if (tables.length === 0) return [];
  try {
    return await sizesOf(
      client,
      tables.map((t) => t.sql),
      lockTimeoutMs,
    );
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== '55P03') throw pgErrorToBackfill(error, {}, `${what}: sizing`);
    const sizes: number[] = [];
    for (const t of tables) sizes.push(await sizeWithin(client, t, lockTimeoutMs, what));
    return sizes;
  }
}

async function sizesOf(client: PgClientLike, tableSqls: readonly string[], lockTimeoutMs: number): Promise<number[]> {
  const results = (await client.query(sql.relationSizesWithin(tableSqls, lockTimeoutMs))) as PgQueryResult<{ s: string }>[];
  return (results[results.length - 1]?.rows ?? []).map((r) => Number(r.s));
}

/** `tableSql`'s comment, if any. */
export async function commentOf(client: PgClientLike, tableSql: string): Promise<string | null> {
  const { rows } = (await client.query(sql.tableComment, [tableSql])) as PgQueryResult<{ c: string | null }>;
  return rows[0]?.c ?? null;
}

interface LockHolder {
  readonly pid: number;
  readonly mode: string;
  readonly tbl: string;
  readonly app: string;
  readonly state: string;
  readonly since: string;
}

/**
 * A `LOCK_TIMEOUT` with the sessions that hold locks on the parent or its
 * partitions named (pid, application, state, since when, which lock), and
 * what to do about them; any other error as it is. Reading them is best
 * effort: if that fails too, the timeout is reported alone.
 */
export async function namingLockHolders(client: PgClientLike, parent: QualifiedName, error: BackfillError): Promise<BackfillError> {
  if (error.code !== 'LOCK_TIMEOUT') return error;
  let holders: LockHolder[];
  try {
    holders = ((await client.query(sql.lockHoldersOfTree, [parent.sql])) as PgQueryResult<LockHolder>).rows;
  } catch {
    return error;
  }
  if (holders.length === 0) return error;
  const who = holders.map(
    (h) =>
      `pid ${h.pid} (${h.app === '' ? 'no application name' : `application ${JSON.stringify(h.app)}`}, ${h.state || 'state unknown'}${h.since === '' ? '' : `, in a transaction since ${h.since}`}) holds ${h.mode} on ${h.tbl}`,
  );
  const pids = [...new Set(holders.map((h) => h.pid))];
  return withNote(
    error,
    `Sessions in the way: ${who.join('; ')}. Wait for them to finish (or end one with SELECT pg_terminate_backend(${pids[0]})), then run this again; what finished is kept.`,
    { blockers: pids },
  );
}

/**
 * The error with `note` appended to its message (after a full stop, if it
 * lacks one) and `context` added; its code, cause, SQLSTATE and detail kept.
 */
export function withNote(error: BackfillError, note: string, context: BackfillErrorContext = {}): BackfillError {
  const sep = /[.!?]$/.test(error.message) ? ' ' : '. ';
  return new BackfillError(error.code, `${error.message}${sep}${note}`, {
    cause: error.cause ?? error,
    context: { ...error.context, ...context },
    ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
    detail: error.detail,
  });
}
