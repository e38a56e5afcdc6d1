/**
 * What the PostgreSQL staging target checks in the catalog before it
 * touches a live table: its shape, the foreign keys pointing at it, the
 * leftovers of earlier swaps it may drop, and who holds a lock it timed
 * out on.
 *
 * @module
 */
import { BackfillError } from '../errors.js';
import type { PgClientLike } from '../_internals/pg.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import {
  caseFoldedNames,
  holdSwapTag as holdSwapTagStatement,
  lockHolders,
  query,
  referencingKeys,
  releaseSwapTag,
  swapAccess,
  swapLeftovers,
  tableShapes,
  userTriggers,
} from './sql.js';
import type { StagingStrategy } from './staging-target.js';

/**
 * The longest id, in UTF-8 bytes, that the `id` primary key can index: a
 * B-tree (version 4, 8 KiB pages) entry holds at most 2704 bytes, less the
 * index tuple header (8) and the text's length word (4). A longer id may
 * still fit when PostgreSQL compresses it; the importer refuses it anyway, so
 * that whether a line loads never depends on how well its id compresses.
 */
export const PG_MAX_ID_BYTES = 2692;

/** Every table comment the library writes starts with this (and the session's tag). */
const MARK = '@stella/backfill-kit swap import';

/** The comment a swap puts on the tables it creates and retires. */
export function swapMark(tag: string, role: 'new' | 'old', live: QualifiedName): string {
  return `${MARK} ${tag}: ${role} contents of ${live.schema}.${live.name}; dropped by the next swap import if left behind`;
}

/**
 * Tables an earlier swap import left behind, which this one may drop: the
 * name follows the library's rule (`_bk_old_<tag>_<n>` or
 * `_bk_stage_<tag>_<n>`) AND the comment is the library's mark for that same
 * tag. A table is taken only when its import is gone: a running import
 * holds the advisory lock of its tag ({@link holdSwapTag}).
 */
export async function findSwapLeftovers(client: PgClientLike, schemas: readonly string[]): Promise<{ sql: string; name: string }[]> {
  return query<{ sql: string; name: string }>(client, swapLeftovers(schemas, MARK));
}

/** Held by a swap session from its start until it has dropped what it leaves behind; see {@link holdSwapTagStatement}. */
export async function holdSwapTag(client: PgClientLike, tag: string): Promise<void> {
  await query(client, holdSwapTagStatement(MARK, tag));
}

/** Lets go of what {@link holdSwapTag} took. */
export async function letGoOfSwapTag(client: PgClientLike, tag: string): Promise<void> {
  await query(client, releaseSwapTag(MARK, tag));
}

interface ColumnShape {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  /** A default, identity or generated value. */
  readonly filled: boolean;
  /** A generated column (`GENERATED ALWAYS AS (…) STORED`): COPY cannot write it. */
  readonly generated: boolean;
  /** Its collation when not the database default (OID 100), else null. */
  readonly collation: string | null;
  /** Whether its collation compares by bytes (false for a case-insensitive ICU collation): only then are ids equal when their bytes are. */
  readonly deterministic: boolean;
}

/** One live table as the shape check sees it. */
interface TableShape {
  readonly kind: string;
  readonly columns: readonly ColumnShape[];
  /** Row-level security enabled, or policies defined: the swapped-in table would have neither. */
  readonly rowSecurity: boolean;
  /**
   * Row-level security applies to the importing role (`row_security_active`:
   * `FORCE ROW LEVEL SECURITY` for the owner, enabled at all for a role that
   * neither owns the table nor bypasses it): PostgreSQL refuses `COPY FROM`
   * into such a table.
   */
  readonly rowSecurityActive: boolean;
  /** Whether it has a primary key at all: a truncate import relies on it to catch duplicate ids. */
  readonly hasPrimaryKey: boolean;
  /** The primary key's definition when it is not on `id` alone (`PRIMARY KEY (id, v)`), else null: it cannot catch duplicate ids. */
  readonly primaryKeyNotOnId: string | null;
  /** Constraints besides the primary key (foreign keys, UNIQUE, CHECK, EXCLUDE): the swapped-in table would have none. */
  readonly constraints: readonly { readonly name: string; readonly def: string }[];
  /** Unique indexes no constraint owns (`CREATE UNIQUE INDEX`, partial or on expressions): they refuse rows as a UNIQUE constraint does. */
  readonly uniqueIndexes: readonly { readonly name: string; readonly def: string }[];
  /** Tables that INHERIT from it: TRUNCATE and DELETE without ONLY empty them too. */
  readonly inheritedBy: readonly string[];
  /** Publications listing it FOR TABLE: the swapped-in table would not be listed. */
  readonly publications: readonly string[];
  /**
   * Publications that publish it without listing it (`FOR ALL TABLES`, `FOR
   * TABLES IN SCHEMA`): they publish a swap's fresh table too, so its COPY
   * reaches their subscribers as rows of a table they do not have, and their
   * replication stops on it.
   */
  readonly publishedWhole: readonly string[];
  /** Tables it INHERITS from: the swapped-in table would inherit from none. */
  readonly inheritsFrom: readonly string[];
  /** Privileges on it or its columns granted by a role other than its owner (`SELECT granted to r by g`): a swap grants as the owner, so it could not grant them again as they were. */
  readonly otherGrantors: readonly string[];
  /** Rules on it (`CREATE RULE … ON INSERT TO` it): they go with the old table. */
  readonly rules: readonly string[];
  /** Extensions it belongs to (`ALTER EXTENSION … ADD TABLE`, or created by one): the swapped-in table would not, and DROP TABLE refuses the old one. */
  readonly extensions: readonly string[];
  /** Its SECURITY LABELs and its columns', as `from provider p` or `from provider p on column c`: the swapped-in table would have none. */
  readonly securityLabels: readonly string[];
  /** Subscriptions replicating into it (`pg_subscription_rel`): the swapped-in table would not be among their tables, so their changes to it would be skipped. */
  readonly subscriptions: readonly string[];
  /** The composite type of a typed table (`CREATE TABLE … OF type`), else null: the swapped-in table would not be typed (and a typed table's constraints cannot be renamed). */
  readonly ofType: string | null;
  /** UNLOGGED: the swapped-in table would be logged. */
  readonly unlogged: boolean;
  /** `pg_class.relreplident`: `d` (default, the primary key), `f` (full), `n` (nothing) or `i` (an index); the swapped-in table's is `d`. */
  readonly replicaIdentity: string;
}

const REPLICA_IDENTITIES: Readonly<Record<string, string>> = { f: 'FULL', n: 'NOTHING', i: 'USING INDEX' };

/** What a live table is checked for: an import of either strategy, or emptying it (`rollback()`). */
export type TableUse = StagingStrategy | 'empty';

const KINDS: Readonly<Record<string, string>> = { p: 'a partitioned table', v: 'a view', m: 'a materialized view', f: 'a foreign table' };

/** What is wrong with one table's shape for `use`, as phrases; empty when it fits. */
function shapeDifferences(shape: TableShape, use: TableUse): string[] {
  const { kind, columns, rowSecurity, primaryKeyNotOnId, constraints, uniqueIndexes, inheritedBy, publications } = shape;
  const out: string[] = [];
  if (kind === 'r' && inheritedBy.length > 0) {
    const [tables, inherit, them] = inheritedBy.length === 1 ? ['table', 'inherits', 'that table'] : ['tables', 'inherit', 'them'];
    const why = use === 'swap' ? `a swap would leave ${them} attached to the old table` : `emptying it would empty ${them} too`;
    out.push(`${tables} ${inheritedBy.join(', ')} ${inherit} from it, and ${why}`);
  }
  if (kind !== 'r') out.push(`it is ${KINDS[kind] ?? `a relation of kind ${kind}`}, not a plain table`);
  if (use === 'empty') return out;
  if (use === 'swap' && rowSecurity)
    out.push('it has row-level security, which the swapped-in table would not have (its rows would become visible to every reader)');
  if (primaryKeyNotOnId !== null) {
    const why =
      use === 'swap' ? "and the swapped-in table's would be on id, taking rows it refuses" : 'so duplicate ids would load unnoticed';
    out.push(`its primary key is ${primaryKeyNotOnId}, not on id alone, ${why}`);
  }
  if (use === 'truncate' && kind === 'r') out.push(...truncateKeyDifferences(shape));
  if (use === 'truncate' && shape.rowSecurityActive)
    out.push('row-level security applies to the importing role, and PostgreSQL refuses COPY into a table whose policies apply to it');
  if (use === 'swap') {
    for (const k of constraints) out.push(`constraint ${k.name} (${k.def}) would be dropped, and rows it refuses let in`);
    for (const i of uniqueIndexes) out.push(`unique index ${i.name} (${i.def}) would be dropped, and rows it refuses let in`);
    for (const p of publications) out.push(`publication ${p} lists it, and would stop publishing it (the swapped-in table is a new table)`);
    for (const p of shape.publishedWhole)
      out.push(
        `publication ${p} publishes every table of its database or schema, so the rows loaded into the swap's fresh table would reach its subscribers as rows of a table they do not have (_bk_stage_…), stopping their replication with "logical replication target relation … does not exist"`,
      );
    for (const r of shape.rules) out.push(`rule ${r} would be dropped with the old table`);
    for (const sub of shape.subscriptions)
      out.push(`subscription ${sub} replicates into it, and would stop applying its changes to the swapped-in table (a new table)`);
    for (const x of shape.extensions)
      out.push(`it belongs to extension ${x}, which the swapped-in table would not, and the old table could not be dropped`);
    for (const l of shape.securityLabels)
      out.push(`it has a SECURITY LABEL ${l}, which the swapped-in table would not carry (a swap cannot copy security labels)`);
    for (const g of shape.otherGrantors)
      out.push(`privilege ${g}, not by its owner, which the swapped-in table could only get granted by its owner`);
    out.push(...swapSettingDifferences(shape));
  }
  for (const [name, type] of [
    ['id', 'text'],
    ['raw', 'jsonb'],
  ] as const) {
    const column = columns.find((c) => c.name === name);
    if (column === undefined) out.push(`it has no column ${name} (${type})`);
    else if (column.type !== type) out.push(`column ${name} is ${column.type}, but the import stores ${type}`);
    else if (use === 'truncate' && column.generated) out.push(`column ${name} is generated, and the import writes it`);
    else if (use === 'swap') out.push(...swapColumnDifferences(column));
  }
  for (const c of columns.filter((c) => c.name !== 'id' && c.name !== 'raw')) {
    if (use === 'swap') out.push(`column ${c.name} (${c.type}) would be dropped, with its data`);
    else if (c.notNull && !c.filled) out.push(`column ${c.name} (${c.type} NOT NULL) has no default, so no row could be loaded`);
  }
  return out;
}

/** Why a truncate import could not rely on the table's key to refuse duplicate ids: there is none, or it compares ids the import tells apart as equal. */
function truncateKeyDifferences({ hasPrimaryKey, columns }: TableShape): string[] {
  if (!hasPrimaryKey) return ['it has no primary key, so duplicate ids would load unnoticed'];
  const id = columns.find((c) => c.name === 'id');
  return id === undefined || id.deterministic
    ? []
    : [`column id has the nondeterministic collation ${id.collation}, so distinct ids (such as "A" and "a") could collide in its key`];
}

/** What a swap would change in an `id` or `raw` column: the swapped-in table's are plain `text` and `jsonb`. */
function swapColumnDifferences({ name, filled, collation }: ColumnShape): string[] {
  const out: string[] = [];
  if (collation !== null)
    out.push(`column ${name} has collation ${collation}, and the swapped-in table's would compare with the database default`);
  if (filled) out.push(`column ${name} has a default (or is generated), which the swapped-in table's would not have`);
  return out;
}

/** Table settings a swap would not carry over: the table's parents, its type, UNLOGGED, and its replica identity. */
function swapSettingDifferences({ inheritsFrom, ofType, unlogged, replicaIdentity }: TableShape): string[] {
  const out: string[] = [];
  if (inheritsFrom.length > 0) out.push(`it inherits from ${inheritsFrom.join(', ')}, and the swapped-in table would not`);
  if (ofType !== null) out.push(`it is a typed table (OF ${ofType}), and the swapped-in table would not be`);
  if (unlogged) out.push('it is UNLOGGED, and the swapped-in table would be logged');
  const identity = REPLICA_IDENTITIES[replicaIdentity];
  if (identity !== undefined)
    out.push(`its REPLICA IDENTITY is ${identity}, and the swapped-in table's would be the default (its primary key)`);
  return out;
}

/** What to do about the differences of `shape` for `use`. */
function shapeAdvice(shape: TableShape, use: TableUse): string {
  const { kind, inheritedBy, primaryKeyNotOnId } = shape;
  if (kind === 'r' && inheritedBy.length > 0)
    return `Detach the inheriting tables (ALTER TABLE ${inheritedBy[0]} NO INHERIT …), or import into a table nothing inherits from.`;
  // Neither strategy nor rollback() takes one, so no other advice would help.
  if (kind !== 'r') return 'Configure a plain table instead (for a partitioned table, one of its partitions).';
  // Neither strategy takes such a key, so "use truncate" would not help.
  if (use !== 'empty' && primaryKeyNotOnId !== null)
    return 'Make id alone the primary key (drop the current one, then ADD PRIMARY KEY (id)), or import into another table.';
  if (use === 'truncate' && shape.rowSecurityActive)
    return 'Import as a role its policies do not apply to: its owner (without FORCE ROW LEVEL SECURITY), a superuser or a role with BYPASSRLS.';
  if (use === 'truncate' && truncateKeyDifferences(shape).length > 0)
    return 'Give the table PRIMARY KEY (id) with a deterministic collation (ALTER TABLE … ALTER COLUMN id TYPE text COLLATE "C"), or use strategy "swap" (it makes a table of its own).';
  return use === 'swap'
    ? 'Use strategy "truncate" (it keeps the table as it is: its constraints, indexes and publications, and fills extra columns with their defaults), or change the table to (id text, raw jsonb) with only its primary key.'
    : 'Change the table to (id text PRIMARY KEY, raw jsonb), give extra columns a default, or import into another table.';
}

/** What {@link checkSwapAccess} reads of one table (see `swapAccess`). */
interface SwapAccess {
  readonly tbl: string;
  readonly schema: string;
  readonly owner: string;
  readonly me: string;
  readonly canCreate: boolean;
  readonly isOwner: boolean;
  readonly member: boolean;
  readonly ownerCanCreate: boolean;
  /** Its extended statistics objects of another owner, which the importing role could not make again as that owner's. */
  readonly statistics: readonly {
    readonly name: string;
    readonly schema: string;
    readonly owner: string;
    readonly member: boolean;
    readonly ownerCanCreate: boolean;
  }[];
  /** Its triggers whose function the importing role may not EXECUTE, which it needs to make them again for the swapped-in table. */
  readonly triggerFunctions: readonly { readonly trigger: string; readonly function: string }[];
}

/**
 * Refuses a swap, before anything is loaded, when the importing role could
 * not carry it out: it makes the fresh table in the live table's schema
 * (CREATE there) and gives it to the live table's owner. PostgreSQL would
 * refuse it halfway through, with a message that does not say what to do.
 * The same for its extended statistics of another owner, which the swap
 * drops and makes again as that owner's, and for its triggers' functions,
 * which it must be allowed to EXECUTE to make the triggers again.
 */
export async function checkSwapAccess(client: PgClientLike, tables: readonly QualifiedName[]): Promise<void> {
  const rows = await query<SwapAccess>(client, swapAccess(tables.map((t) => t.sql)));
  for (const row of rows) {
    const { tbl, schema, owner, me } = row;
    const tableNeeds = [
      ...(row.canCreate ? [] : [`CREATE on schema ${schema} (GRANT CREATE ON SCHEMA ${schema} TO ${me})`]),
      ...(row.isOwner || row.member ? [] : [`membership in its owner ${owner} (GRANT ${owner} TO ${me})`]),
      ...(row.isOwner || row.ownerCanCreate
        ? []
        : [`CREATE on schema ${schema} for ${owner} (GRANT CREATE ON SCHEMA ${schema} TO ${owner})`]),
    ];
    // The swap drops each statistics object and makes it again for the swapped-in table, as its owner's.
    const statisticsNeeds = row.statistics.flatMap((st) => [
      ...(st.member
        ? []
        : [
            `membership in ${st.owner}, which owns statistics object ${st.name} (GRANT ${st.owner} TO ${me}, or ALTER STATISTICS ${st.name} OWNER TO ${owner})`,
          ]),
      ...(st.ownerCanCreate
        ? []
        : [
            `CREATE on schema ${st.schema} for ${st.owner}, which owns statistics object ${st.name} (GRANT CREATE ON SCHEMA ${st.schema} TO ${st.owner})`,
          ]),
    ]);
    // CREATE TRIGGER needs EXECUTE on its function.
    const triggerNeeds = row.triggerFunctions.map(
      (g) => `EXECUTE on function ${g.function}, which trigger ${g.trigger} calls (GRANT EXECUTE ON FUNCTION ${g.function} TO ${me})`,
    );
    const needs = [...tableNeeds, ...statisticsNeeds, ...triggerNeeds];
    if (needs.length === 0) continue;
    const remade = [
      ...(statisticsNeeds.length === 0 ? [] : ["extended statistics (as their owners')"]),
      ...(triggerNeeds.length === 0 ? [] : ['triggers']),
    ];
    const remakes = remade.length === 0 ? '' : `, and makes its ${remade.join(' and ')} again for that table`;
    const asOwner = tableNeeds.length === 0 ? '' : `, import as ${owner}`;
    throw new BackfillError(
      'DB_ERROR',
      `role ${me} cannot swap ${tbl}: a swap makes a new table beside it and gives it to the table's owner${remakes}, which needs ${needs.join(' and ')}. Grant what is missing${asOwner}, or use strategy "truncate", which needs only SELECT, INSERT and TRUNCATE on the table. Nothing was changed.`,
      { dbCode: '42501', context: { table: tbl } },
    );
  }
}

/**
 * Refuses, before anything is loaded or emptied, a live table the import
 * would reshape or that it cannot empty alone: `id` must be `text` and
 * `raw` `jsonb`, and a primary key must be on `id` alone (a wider key
 * cannot catch duplicate ids); a truncate import, which keeps the table's
 * key, also needs one, on an `id` of a deterministic collation; a swap replaces the table with `(id text,
 * raw jsonb)`, so it refuses extra columns, any constraint besides the
 * primary key (a foreign key, UNIQUE, CHECK or EXCLUDE constraint would be
 * dropped with the old table) and any unique index (`CREATE UNIQUE INDEX`,
 * which refuses rows as a UNIQUE constraint does), row-level security,
 * publications listing the table or publishing it with its whole database
 * or schema, subscriptions replicating into it and
 * membership in an extension;
 * truncate keeps the table, so extra columns are fine when they have a
 * default or allow NULL. A table others inherit from is refused for every
 * use, emptying it included: TRUNCATE and DELETE would empty them too.
 * Tables that do not exist yet pass (the import creates them).
 */
export async function checkTableShapes(client: PgClientLike, tables: readonly QualifiedName[], use: TableUse): Promise<void> {
  const rows = await query<TableShape & { name: string }>(client, tableShapes(tables.map((t) => t.sql)));
  for (const row of rows) {
    const differences = shapeDifferences(row, use);
    if (differences.length === 0) continue;
    const what = use === 'empty' ? 'cannot be emptied alone' : `does not fit a ${use} import`;
    throw new BackfillError(
      'TABLE_SHAPE_MISMATCH',
      `${row.name} ${what}: ${differences.join('; ')}. ${shapeAdvice(row, use)} Nothing was changed.`,
      {
        context: { table: row.name, differences },
      },
    );
  }
}

/**
 * What a swap's fresh table has that its live table cannot have (the live
 * table passed {@link checkTableShapes} for a swap), as phrases: what
 * something outside the import, such as an event trigger on `CREATE TABLE`,
 * gave it. `triggers`: its triggers, when it should have none yet.
 */
function freshTableExtras(shape: TableShape, triggers: readonly string[]): string[] {
  const out: string[] = [];
  if (shape.rowSecurity) out.push('row-level security (enabled, or a policy)');
  for (const k of shape.constraints) out.push(`constraint ${k.name} (${k.def})`);
  for (const i of shape.uniqueIndexes) out.push(`unique index ${i.name} (${i.def})`);
  for (const t of triggers) out.push(`trigger ${t}`);
  for (const r of shape.rules) out.push(`rule ${r}`);
  for (const p of shape.publications) out.push(`a place in publication ${p}`);
  for (const x of shape.extensions) out.push(`membership in extension ${x}`);
  for (const l of shape.securityLabels) out.push(`a SECURITY LABEL ${l}`);
  for (const p of shape.inheritsFrom) out.push(`a parent table, ${p}`);
  if (shape.unlogged) out.push('UNLOGGED');
  const identity = REPLICA_IDENTITIES[shape.replicaIdentity];
  if (identity !== undefined) out.push(`REPLICA IDENTITY ${identity}`);
  for (const c of shape.columns) {
    if (c.name !== 'id' && c.name !== 'raw') out.push(`column ${c.name} (${c.type})`);
    else if (c.filled) out.push(`a default on column ${c.name}`);
  }
  return out;
}

/**
 * Refuses a swap whose fresh table (`fresh`, for the live table `live`) is
 * not shaped like the live table: the database's event triggers run on the
 * `CREATE TABLE` and `ALTER TABLE` statements that make it, and one that
 * enables row-level security on every new table, or gives each an audit
 * trigger, would have the swapped-in table hide every row from its readers,
 * or the load fire a trigger the live table does not have. Checked as the
 * fresh table is made (`made`: before any row is loaded, and it must have
 * no trigger yet) and again under the swap's lock once it has taken the
 * live table's name and what the swap carries over (`swapped`: the
 * statements that built it after the load ran event triggers too).
 */
export async function checkFreshTable(
  client: PgClientLike,
  fresh: QualifiedName,
  live: QualifiedName,
  when: 'made' | 'swapped',
): Promise<void> {
  const [shape] = await query<TableShape>(client, tableShapes([fresh.sql]));
  if (shape === undefined) return;
  const triggers = when === 'made' ? (await query<{ name: string }>(client, userTriggers(fresh.sql))).map((t) => t.name) : [];
  const extras = freshTableExtras(shape, triggers);
  if (extras.length === 0) return;
  throw new BackfillError(
    'TABLE_SHAPE_MISMATCH',
    `the swap's fresh table for ${live.sql} was given ${extras.join('; ')} ${when === 'made' ? 'as it was made' : 'while it was built'}, which ${live.sql} does not have: something outside the import changes the tables it makes, such as an event trigger on CREATE TABLE or ALTER TABLE, and the swapped-in table would not be shaped like the live one (row-level security would hide its rows from readers; a trigger would fire on the load). Make such an event trigger pass over the import's tables (named _bk_stage_…), or use strategy "truncate", which keeps the table. Nothing was changed.`,
    { context: { table: live.sql, differences: extras } },
  );
}

/**
 * Refuses a schema or table name that does not exist while its lower-case
 * fold does (`LNM_RAW` beside `lnm_raw`): the library quotes every name, so
 * it would create a look-alike beside the tables PostgreSQL means by that
 * name unquoted.
 */
export async function checkNameCase(client: PgClientLike, tables: readonly QualifiedName[]): Promise<void> {
  const [twin] = await query<{ given: string; folded: string }>(
    client,
    caseFoldedNames(
      tables.map((t) => t.schema),
      tables.map((t) => t.name),
    ),
  );
  if (twin === undefined) return;
  throw new BackfillError(
    'INVALID_ARGUMENT',
    `${twin.given} does not exist, but ${twin.folded} does: names are case-sensitive here (they are quoted), while PostgreSQL reads an unquoted ${twin.given} as ${twin.folded}. Did you mean ${twin.folded}? (To import into ${twin.given} itself, create it first.) Nothing was changed.`,
    { context: { table: twin.given } },
  );
}

/**
 * Live tables (their `sql` names) that foreign keys of other tables reference. TRUNCATE cannot
 * empty those (SQLSTATE 0A000, even when the referencing table is empty), so
 * the truncate strategy deletes their rows instead. A key whose ON DELETE
 * action would change the other table (CASCADE, SET NULL, SET DEFAULT) is
 * refused here, since the import must never touch a table it was not given.
 */
export async function referencedTables(client: PgClientLike, tables: readonly QualifiedName[]): Promise<Set<string>> {
  const rows = await query<{ conname: string; referencing: string; referenced: string; on_delete: string }>(
    client,
    referencingKeys(tables.map((t) => t.sql)),
  );
  const acts: Readonly<Record<string, string>> = { c: 'ON DELETE CASCADE', n: 'ON DELETE SET NULL', d: 'ON DELETE SET DEFAULT' };
  const changing = rows.find((r) => acts[r.on_delete] !== undefined);
  if (changing !== undefined) {
    throw new BackfillError(
      'TABLE_REFERENCED',
      `constraint ${changing.conname} on ${changing.referencing} references ${changing.referenced} with ${acts[changing.on_delete]}: replacing the rows would change ${changing.referencing}. Make the constraint ON DELETE NO ACTION or RESTRICT, or drop it. Nothing was changed.`,
      { context: { table: changing.referenced, constraint: changing.conname, referencing: changing.referencing } },
    );
  }
  return new Set(rows.map((r) => r.referenced));
}

interface LockHolder {
  readonly tbl: string;
  readonly pid: number;
  readonly app: string;
  readonly state: string;
  readonly mode: string;
  readonly granted: boolean;
}

/** How {@link explainLockTimeout} speaks of a lock the caller waited for. */
export interface LockWait {
  /** The caller wanted ACCESS SHARE (an export): only ACCESS EXCLUSIVE locks, held or queued, stood in its way. */
  readonly shared?: boolean;
  /** What the failure left behind. @defaultValue `'Nothing was changed.'` */
  readonly outcome?: string;
}

/**
 * Turns a `lock_timeout` (SQLSTATE 55P03) into a `LOCK_TIMEOUT` that names
 * the tables and the sessions holding locks on them (what
 * `pg_blocking_pids` would have listed while the caller waited: any lock
 * conflicts with ACCESS EXCLUSIVE, and only that one with ACCESS SHARE)
 * and says what to do. Runs on `client` after its transaction was rolled
 * back; other errors pass through.
 */
export async function explainLockTimeout(
  client: PgClientLike,
  error: unknown,
  tables: readonly QualifiedName[],
  lockTimeoutMs: number,
  { shared = false, outcome = 'Nothing was changed.' }: LockWait = {},
): Promise<unknown> {
  if ((error as { code?: unknown } | null)?.code !== '55P03') return error;
  let holders: LockHolder[] = [];
  try {
    holders = await query<LockHolder>(
      client,
      lockHolders(
        tables.map((t) => t.sql),
        shared,
      ),
    );
  } catch {
    // The timeout itself is what the caller must see; the holders stay unnamed.
  }
  const names = [...new Set(holders.map((h) => h.tbl))];
  const who = holders.map(
    (h) =>
      `session ${h.pid} (application_name ${JSON.stringify(h.app)}, state ${JSON.stringify(h.state)}, ${h.granted ? h.mode : `waiting for ${h.mode}`}) on ${h.tbl}`,
  );
  const subject = names.length > 0 ? names.join(', ') : tables.map((t) => t.sql).join(', ');
  const blockers = who.length > 0 ? `held by ${who.join('; ')}` : 'its holders have finished since';
  const pids = [...new Set(holders.map((h) => h.pid))];
  const wait = pids.length > 0 ? `wait for session ${pids.join(', ')} to finish (or end it with pg_terminate_backend)` : 'retry';
  return new BackfillError(
    'LOCK_TIMEOUT',
    `could not lock ${subject} within lockTimeoutMs=${lockTimeoutMs} ms: ${blockers}. ${wait[0]!.toUpperCase()}${wait.slice(1)}, or raise lockTimeoutMs (--lock-timeout-ms). ${outcome}`,
    {
      cause: error,
      dbCode: '55P03',
      context: {
        table: subject,
        blockers: holders.map((h) => ({ pid: h.pid, applicationName: h.app, state: h.state, mode: h.mode, table: h.tbl })),
      },
    },
  );
}
