import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, withApplicationName, type TestDatabase } from '../../support/pg.js';
import { PgHandle, pgErrorToBackfill } from '../../../src/_internals/pg.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('test harness', () => {
  it('gives each file its own database on a real server', async () => {
    const [row] = await db.query<{ db: string; v: number }>(
      "SELECT current_database() AS db, current_setting('server_version_num')::int AS v",
    );
    expect(row?.db).toBe(db.name);
    expect(row?.v).toBeGreaterThanOrEqual(150000);
  });
});

describe('PgHandle', () => {
  it('maps SQLSTATEs to codes', async () => {
    const handle = new PgHandle(db.url);
    const missing = await handle.query('SELECT * FROM no_such_table');
    expect(missing.isErr() && missing.error.code).toBe('TABLE_NOT_FOUND');
    expect(missing.isErr() && missing.error.dbCode).toBe('42P01');
    await handle.close();
  });

  it('reports an unreachable server as DB_CONNECTION', async () => {
    const handle = new PgHandle('postgres://nobody@127.0.0.1:1/none');
    const r = await handle.query('SELECT 1');
    expect(r.isErr() && r.error.code).toBe('DB_CONNECTION');
    await handle.close();
  });

  it('survives the server terminating its idle connection, and the next query works', async () => {
    const handle = new PgHandle(withApplicationName(db.url, 'bk_idle_probe'));
    expect((await handle.query('SELECT 1')).isOk()).toBe(true);
    const [killed] = await db.query<{ n: string }>(
      "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = 'bk_idle_probe'",
    );
    expect(Number(killed?.n)).toBe(1);
    // The pool sees the FATAL message on its idle socket a moment later;
    // without a listener, pg.Pool would re-emit it as an uncaught 'error'.
    // Until it has, a query may still pick the dead socket, so retry briefly.
    let again = await handle.query<{ one: number }>('SELECT 1 AS one');
    for (let i = 0; again.isErr() && i < 50; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      again = await handle.query<{ one: number }>('SELECT 1 AS one');
    }
    expect(again._unsafeUnwrap().rows[0]?.one).toBe(1);
    await handle.close();
  });

  it('destroys a client whose work failed instead of returning it to the pool', async () => {
    const handle = new PgHandle(db.pool);
    await expect(
      handle.withClient(async (c) => {
        await c.query('BEGIN');
        await c.query('SELECT 1/0');
      }),
    ).rejects.toThrow();
    // The next checkout must not be stuck in the aborted transaction.
    const ok = await handle.query<{ one: number }>('SELECT 1 AS one');
    expect(ok._unsafeUnwrap().rows[0]?.one).toBe(1);
    expect(pgErrorToBackfill({ code: '55P03', message: 'x' }).code).toBe('LOCK_TIMEOUT');
  });
});
