/**
 * A connection the server ends between two statements (a restart's
 * `pg_terminate_backend`, 57P01; an idle-session or idle-in-transaction
 * timeout, 57P05 and 25P03) fails the next statement: its DB_CONNECTION
 * says the server's reason, not only the driver's "not queryable".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgHandle, pgErrorToBackfill, type PgClientLike } from '../../../src/_internals/pg.js';
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

/** The error of `SELECT 1` sent after `end` made the server close the checked-out connection. */
async function nextStatementAfter(end: (client: PgClientLike, pid: number) => Promise<unknown>) {
  return new PgHandle(pool)
    .withClient(async (client) => {
      const { rows } = (await client.query('SELECT pg_catalog.pg_backend_pid() AS pid')) as { rows: { pid: number }[] };
      const closed = new Promise((resolve) => (client as unknown as pg.PoolClient).once('error', resolve));
      await end(client, rows[0]!.pid);
      await closed;
      await client.query('SELECT 1');
    })
    .then(
      () => undefined,
      (e: unknown) => pgErrorToBackfill(e),
    );
}

describe('a connection the server closed between two statements', () => {
  it.each([
    [
      'pg_terminate_backend',
      '57P01',
      /terminating connection due to administrator command/,
      (_c: PgClientLike, pid: number) => db.query('SELECT pg_catalog.pg_terminate_backend($1)', [pid]),
    ],
    [
      'an idle-session timeout',
      '57P05',
      /idle-session timeout/,
      (c: PgClientLike) => c.query("SELECT pg_catalog.set_config('idle_session_timeout', '200', false)"),
    ],
    [
      'an idle-in-transaction timeout',
      '25P03',
      /idle-in-transaction timeout/,
      async (c: PgClientLike) => {
        await c.query('BEGIN');
        await c.query("SELECT pg_catalog.set_config('idle_in_transaction_session_timeout', '200', true)");
      },
    ],
  ])(
    'closed by %s fails the next statement with DB_CONNECTION, the reason and SQLSTATE %s',
    async (_how, sqlstate, reason, end) => {
      const error = await nextStatementAfter(end);
      expect(error?.code).toBe('DB_CONNECTION');
      expect(error?.dbCode).toBe(sqlstate);
      expect(error?.message).toMatch(reason);
    },
    60_000,
  );
});
