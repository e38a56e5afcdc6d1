/**
 * A connection the server ends between two statements (a restart's
 * `pg_terminate_backend`, 57P01) fails the next statement: its DB_CONNECTION
 * says the server's reason, not only the driver's "not queryable".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgHandle, pgErrorToBackfill } from '../../../src/_internals/pg.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => undefined);
}, 120_000);
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('a connection the server terminated between two statements', () => {
  it('fails the next statement with the server reason and its SQLSTATE', async () => {
    const handle = new PgHandle(pool);
    const error = await handle
      .withClient(async (client) => {
        const { rows } = (await client.query('SELECT pg_catalog.pg_backend_pid() AS pid')) as { rows: { pid: number }[] };
        const closed = new Promise((resolve) => (client as unknown as pg.PoolClient).once('error', resolve));
        await db.query('SELECT pg_catalog.pg_terminate_backend($1)', [rows[0]!.pid]);
        await closed;
        await client.query('SELECT 1');
      })
      .then(
        () => undefined,
        (e: unknown) => pgErrorToBackfill(e),
      );
    expect(error?.code).toBe('DB_CONNECTION');
    expect(error?.dbCode).toBe('57P01');
    expect(error?.message).toMatch(/terminating connection due to administrator command/);
  }, 60_000);
});
