import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ResultAsync, errAsync } from 'neverthrow';
import { quoteIdent, validateIdentifier } from '../_internals/sql-identifier.js';
import { pgErrorToBackfill } from '../_internals/pg.js';
import type { BackfillError } from '../errors.js';

/** Options for {@link createThrowawayDatabase}. */
export interface ThrowawayDatabaseOptions {
  /** A URL of the server, with rights to CREATE DATABASE (any database name in it is replaced). */
  readonly serverUrl: string;
  /** Clone this database instead of the server's default template. */
  readonly template?: string;
  /** Name prefix. @defaultValue `'bk_test_'` */
  readonly prefix?: string;
}

/** A database of its own for one test file or suite. */
export interface ThrowawayDatabase extends AsyncDisposable {
  /** Connection string of the new database. */
  readonly url: string;
  readonly name: string;
  /** Drops the database, disconnecting anyone still connected. */
  drop(): Promise<void>;
}

function urlFor(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

async function adminQuery(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Creates a fresh, uniquely named PostgreSQL database (optionally cloned from
 * a template) for a test suite, and drops it on `drop()` or `await using`.
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
  const name = `${options.prefix ?? 'bk_test_'}${randomBytes(6).toString('hex')}`;
  const checkedName = validateIdentifier(name, 'database name');
  if (checkedName.isErr()) return errAsync(checkedName.error);
  if (options.template !== undefined) {
    const checked = validateIdentifier(options.template, 'template name');
    if (checked.isErr()) return errAsync(checked.error);
  }
  const create = async (): Promise<ThrowawayDatabase> => {
    const template = options.template === undefined ? '' : ` TEMPLATE ${quoteIdent(options.template)}`;
    await adminQuery(options.serverUrl, `CREATE DATABASE ${quoteIdent(name)}${template}`);
    const drop = (): Promise<void> => adminQuery(options.serverUrl, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    return { url: urlFor(options.serverUrl, name), name, drop, [Symbol.asyncDispose]: drop };
  };
  return ResultAsync.fromPromise(create(), (e) => pgErrorToBackfill(e));
}
