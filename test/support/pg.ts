import { inject } from 'vitest';
import pg from 'pg';
import { createThrowawayDatabase } from '../../src/testing/throwaway-database.js';

/** A database of its own for one test file, cloned from the template. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly pool: pg.Pool;
  /** Runs SQL and returns the rows. */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/** Creates a fresh database (`CREATE DATABASE … TEMPLATE …`) for this test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const db = (await createThrowawayDatabase({ serverUrl: inject('pgUrl'), template: inject('pgTemplate') }))._unsafeUnwrap();
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  // pool.end() resolves before its sockets close; drop() waits for them, but
  // a connection a test leaves open past its grace period is terminated
  // (57P01). That is the teardown itself; any other idle-connection error
  // fails the run.
  let dropping = false;
  pool.on('error', (error) => {
    if (!dropping) throw error;
  });
  return {
    url: db.url,
    name: db.name,
    pool,
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async drop() {
      dropping = true;
      await pool.end();
      await db.drop();
    },
  };
}

/** Runs one statement on the test server (as its URL's user, in its URL's database) on a connection of its own: a role or a database made for a test. */
export async function onServer(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('pgUrl') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Whether the test server holds a database named `name`. */
export async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: inject('pgUrl') });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

/**
 * Waits until no backend of `db`'s server runs under `applicationName`: after
 * a client is SIGKILLed, a COMMIT it had already sent may still be flushing,
 * and reads made before its backend is gone can see it land half-way.
 */
export async function waitForNoBackend(db: TestDatabase, applicationName: string): Promise<void> {
  for (let i = 0; i < 400; i += 1) {
    const rows = await db.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    if (rows.length === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the backend of ${applicationName} did not go away`);
}

/** `url` with `application_name` set, so the backends a child opens can be found. */
export function withApplicationName(url: string, applicationName: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', applicationName);
  return u.toString();
}

/** Waits until `count` lock requests of `locktype` (an advisory lock a test holds, a table another session holds) wait in `db`. */
export async function waitForLockWaiter(db: TestDatabase, locktype: 'advisory' | 'relation', count = 1): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const [row] = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM pg_catalog.pg_locks
        WHERE NOT granted AND locktype = $1 AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())`,
      [locktype],
    );
    if (Number(row!.n) >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${count} backends of ${db.name} waited for a ${locktype} lock`);
}
