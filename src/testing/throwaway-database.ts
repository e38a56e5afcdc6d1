import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parse } from 'pg-connection-string';
import { err, errAsync, ok, type Result, ResultAsync } from 'neverthrow';
import { validateIdentifier } from '../_internals/sql-identifier.js';
import { pgErrorToBackfill, query, type Statement } from '../_internals/pg.js';
import { BackfillError } from '../errors.js';
import { createDatabase, dropDatabaseForce, otherClientSessions } from './sql.js';

/** Options for {@link createThrowawayDatabase}. */
export interface ThrowawayDatabaseOptions {
  /**
   * A URL of the server, with rights to CREATE DATABASE, in any form pg
   * reads (`postgres://…`, `postgresql://…`, `socket:/dir?db=…`,
   * `/socket-dir database`). It is connected to as it is to create and drop
   * the database (the `postgres` database instead, for both, when it names
   * `template`, which a connected session would keep from being cloned by
   * other workers, and which may take no connections); {@link ThrowawayDatabase.url} is the same URL with the new
   * database's name instead. One whose name cannot be replaced is
   * `INVALID_ARGUMENT`, before anything is created.
   */
  readonly serverUrl: string;
  /** Clone this database instead of the server's default template. */
  readonly template?: string;
  /**
   * Name prefix: a plain identifier (letters, digits, `_` and `$`, starting
   * with a letter or `_`) of at most 51 bytes, so that the name, 12 random
   * hex digits longer, fits in PostgreSQL's 63 (anything else is
   * `INVALID_IDENTIFIER`, naming it).
   * @defaultValue `'bk_test_'`
   */
  readonly prefix?: string;
}

/** A database of its own for one test file or suite. */
export interface ThrowawayDatabase extends AsyncDisposable {
  /** Connection string of the new database. */
  readonly url: string;
  readonly name: string;
  /**
   * Drops the database. Client sessions still connected to it are first
   * given up to 2 seconds to leave on their own (a pool or client ended
   * just before, whose end is still in flight); whichever are left then
   * are terminated (`DROP DATABASE … WITH (FORCE)`), and a pg `Client` or
   * `Pool` of theirs with no `'error'` listener throws their `57P01`
   * (`terminating connection due to administrator command`) as an
   * unhandled `'error'` event. It rejects with the driver's error when the
   * server cannot be reached, or with the server's when it ends drop()'s
   * own session (`57P01`, `57P05`), and resolves when the database is
   * already gone.
   */
  drop(): Promise<void>;
}

/** A stand-in host for URLs that give none before the path (`postgres://user@/db?host=…`), as pg reads them. */
const NO_HOST = '___no_host___';

/**
 * `serverUrl` naming `database` instead, in each form pg reads: a URL (the
 * path), a `socket:` URL (its `db` parameter), a URL with no host before the
 * path, and `/socket-dir database`. `undefined` when pg would not read the
 * result as the same server and user with that database.
 */
function urlFor(serverUrl: string, database: string): string | undefined {
  let url: string;
  if (serverUrl.startsWith('/')) url = `${serverUrl.split(' ')[0]} ${database}`;
  else {
    const noHost = serverUrl.includes('@/') && !URL.canParse(serverUrl);
    const u = URL.parse(noHost ? serverUrl.replace('@/', `@${NO_HOST}/`) : serverUrl);
    if (u === null) return undefined;
    if (u.protocol === 'socket:') u.searchParams.set('db', database);
    // pg reads the path with decodeURI, which leaves `%24` as it is: a `$` (in a plain identifier) goes as itself.
    else u.pathname = `/${encodeURIComponent(database).replaceAll('%24', '$')}`;
    url = noHost ? u.toString().replace(`@${NO_HOST}/`, '@/') : u.toString();
  }
  let before: ReturnType<typeof parse>;
  let after: ReturnType<typeof parse>;
  try {
    [before, after] = [parse(serverUrl), parse(url)];
  } catch {
    return undefined;
  }
  const same = (['host', 'port', 'user', 'password'] as const).every((k) => (before[k] ?? '') === (after[k] ?? ''));
  return same && after.database === database ? url : undefined;
}

/** Random hex digits after the prefix of a database's name. */
const RANDOM_HEX_DIGITS = 12;
/** The longest prefix: PostgreSQL truncates names past 63 bytes. */
const MAX_PREFIX_BYTES = 63 - RANDOM_HEX_DIGITS;

/**
 * The prefix, checked on its own rather than in the name it begins: with
 * random digits after it, an empty prefix would give a name beginning with
 * a digit (refused) some times and a database others.
 */
function checkPrefix(prefix: unknown): Result<string, BackfillError> {
  // A plain identifier is ASCII: its length is its bytes.
  if (typeof prefix === 'string' && validateIdentifier(prefix).isOk() && prefix.length <= MAX_PREFIX_BYTES) return ok(prefix);
  return err(
    new BackfillError(
      'INVALID_IDENTIFIER',
      `prefix must be a plain identifier of 1 to ${MAX_PREFIX_BYTES} bytes (letters, digits, "_" and "$", starting with a letter or "_"), which the ${RANDOM_HEX_DIGITS} hex digits after it keep within PostgreSQL's 63; got ${JSON.stringify(prefix)}.`,
    ),
  );
}

/** Runs `session` on a connection of its own to `serverUrl`, and closes it. */
async function adminSession(serverUrl: string, session: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  // pg emits 'error' on a client whose connection ends unasked (a terminated session, a server
  // restarting), between two queries too: unheard, that is an uncaught exception. The next query
  // fails anyway; the server's reason is the one it throws.
  let lost: unknown;
  client.on('error', (error) => {
    lost ??= error;
  });
  await client.connect();
  try {
    await session(client);
  } catch (error) {
    throw lost ?? error;
  } finally {
    await client.end();
  }
}

async function adminQuery(serverUrl: string, statement: Statement): Promise<void> {
  await adminSession(serverUrl, async (client) => {
    await query(client, statement);
  });
}

/**
 * How long `drop()` lets client sessions of the database leave on their own
 * before terminating them, and how often it looks. An end in flight (a
 * `pool.end()` not awaited) closes its sessions within milliseconds, and a
 * test's own short timer within a fraction of a second; a pool that is never
 * ended costs a suite this much per drop, and no more. Each look is one
 * small catalog query on an open connection, so looking every 25 ms adds
 * at most that to a drop others are leaving.
 */
const DROP_GRACE_MS = 2_000;
const DROP_POLL_MS = 25;

/** Drops database `name` through `serverUrl` after its client sessions have had {@link DROP_GRACE_MS} to leave. */
function dropWhenLeft(serverUrl: string, name: string): Promise<void> {
  return adminSession(serverUrl, async (client) => {
    const deadline = Date.now() + DROP_GRACE_MS;
    for (;;) {
      const [sessions] = await query<{ connected: boolean }>(client, otherClientSessions(name));
      if (sessions?.connected !== true || Date.now() >= deadline) break;
      await sleep(DROP_POLL_MS);
    }
    await query(client, dropDatabaseForce(name));
  });
}

/**
 * Creates a fresh, uniquely named PostgreSQL database (optionally cloned from
 * a template) for a test suite, and drops it on `drop()` or `await using`.
 * The name is the prefix and 12 random hex digits, so parallel test workers
 * and processes do not collide. `drop()` gives sessions still connected to
 * the database up to 2 seconds to leave (end your pools and clients before
 * it, awaited or not), then terminates whichever are left, so a leaked pool
 * does not keep the database. A test process that is killed cannot drop
 * its database: list leftovers with
 * `SELECT datname FROM pg_database WHERE datname LIKE 'bk\_test\_%'` (for
 * the default prefix) and drop them when no test run is going. A role
 * without `CREATEDB` gets `DB_ERROR` (`dbCode` `42501`) naming the role.
 *
 * @example
 * ```ts
 * const result = await createThrowawayDatabase({ serverUrl: process.env.DATABASE_URL! });
 * if (result.isErr()) throw result.error;
 * const db = result.value;
 * const importer = new StagingImporter({ pg: db.url, tables: { 'linksets.ndjson': 'linksets_raw' } });
 * // … assertions …
 * await db.drop();
 * ```
 */
export function createThrowawayDatabase(options: ThrowawayDatabaseOptions): ResultAsync<ThrowawayDatabase, BackfillError> {
  const prefix = checkPrefix(options.prefix ?? 'bk_test_');
  if (prefix.isErr()) return errAsync(prefix.error);
  const name = `${prefix.value}${randomBytes(RANDOM_HEX_DIGITS / 2).toString('hex')}`;
  const checkedName = validateIdentifier(name, 'database name');
  if (checkedName.isErr()) return errAsync(checkedName.error);
  if (options.template !== undefined) {
    const checked = validateIdentifier(options.template, 'template name');
    if (checked.isErr()) return errAsync(checked.error);
  }
  // Named before anything is created: a database no URL names could not be reached or dropped by the caller.
  const url = typeof options.serverUrl === 'string' ? urlFor(options.serverUrl, name) : undefined;
  if (url === undefined) {
    return errAsync(
      new BackfillError(
        'INVALID_ARGUMENT',
        'serverUrl must be a connection URL that pg reads (postgres://user:password@host:port/database, socket:/dir?db=database, or "/socket-dir database"); its database name could not be replaced.',
      ),
    );
  }
  const create = async (): Promise<ThrowawayDatabase> => {
    const sql = createDatabase(name, options.template);
    // A session connected to the template holds it: PostgreSQL clones no database others are connected to, so
    // parallel workers given the template's URL would all fail. Such a URL is created from `postgres`, as createdb does.
    const maintenance = options.template !== undefined && parse(options.serverUrl).database === options.template;
    const viaPostgres = maintenance ? urlFor(options.serverUrl, 'postgres') : undefined;
    // The URL the database was created through is the one it is dropped through: drop()'s session, on the
    // template for up to its grace period, would hold it from the clones of other workers, as create's would.
    let admin = options.serverUrl;
    if (viaPostgres === undefined) await adminQuery(options.serverUrl, sql);
    else {
      admin = viaPostgres;
      await adminQuery(viaPostgres, sql).catch((error: { code?: unknown }) => {
        // No `postgres` database on this server: the template's own URL, as before.
        if (error.code !== '3D000') return Promise.reject(error);
        admin = options.serverUrl;
        return adminQuery(options.serverUrl, sql);
      });
    }
    const drop = (): Promise<void> => dropWhenLeft(admin, name);
    return { url, name, drop, [Symbol.asyncDispose]: drop };
  };
  return ResultAsync.fromPromise(create(), (e) => {
    const error = pgErrorToBackfill(e);
    if (error.dbCode !== '42501') return error;
    const user = parse(options.serverUrl).user;
    const role = user ? `role ${JSON.stringify(user)}` : 'role of serverUrl';
    return new BackfillError(
      'DB_ERROR',
      `${error.message}. The ${role} may not create databases: give it CREATEDB (ALTER ROLE … CREATEDB), or give a serverUrl with a role that has it.`,
      { cause: e, dbCode: '42501' },
    );
  });
}
