import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset } from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { scratch } from './fixtures.js';

const ROWS = 300_000;
let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch();
  for (const s of ['caller_abort', 'caller_bad']) {
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb)`);
    await db.query(
      `INSERT INTO ${s}.linksets_raw SELECT lpad(g::text, 7, '0'), jsonb_build_object('_id', lpad(g::text, 7, '0'), 'pad', repeat('x', 200)) FROM generate_series(1, ${ROWS}) g`,
    );
  }
  // A bad row in the middle of the table: the export fails there, its COPY half read.
  await db.query(`UPDATE caller_bad.linksets_raw SET raw = '[1, 2]' WHERE id = lpad('150000', 7, '0')`);
}, 120_000);
afterAll(async () => {
  await db.drop();
});

/** The export's outcome, or a failure of the test when it has not settled within `ms` (it used to hang for ever). */
async function within<T>(ms: number, p: PromiseLike<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the export did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The caller's client is usable, idle outside any transaction, and holds no lock on the table any more. */
async function clientIsBack(client: pg.Client, schema: string): Promise<void> {
  const { rows } = await client.query<{ n: number; pid: number }>(
    `SELECT count(*)::int AS n, pg_backend_pid() AS pid FROM ${schema}.linksets_raw`,
  );
  expect(rows[0]!.n).toBe(ROWS);
  const [state] = await db.query<{ state: string; locks: number }>(
    `SELECT a.state, (SELECT count(*)::int FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND l.relation = '${schema}.linksets_raw'::regclass) AS locks
       FROM pg_catalog.pg_stat_activity a WHERE a.pid = $1`,
    [rows[0]!.pid],
  );
  expect(state).toEqual({ state: 'idle', locks: 0 });
}

describe('exportDataset with the caller’s own pg.Client, stopped mid-table', () => {
  it('aborted by its signal: settles with ABORTED, writes no file, and leaves the client usable outside a transaction', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const controller = new AbortController();
      const path = join(dir, 'aborted.tar.zst');
      const result = await within(
        60_000,
        exportDataset({ pg: client, schema: 'caller_abort', tables: { 'linksets.ndjson': 'linksets_raw' } }, path, {
          signal: controller.signal,
          progressEveryRows: 10_000,
          onProgress: (p) => {
            if (p.rows >= 50_000 && p.rows < ROWS) controller.abort();
          },
        }),
      );
      expect(result._unsafeUnwrapErr().code).toBe('ABORTED');
      expect(existsSync(path)).toBe(false);
      await clientIsBack(client, 'caller_abort');
    } finally {
      await client.end();
    }
  }, 120_000);

  it('failed on a bad row: settles with that row named, writes no file, and leaves the client usable outside a transaction', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const path = join(dir, 'bad-row.tar.zst');
      const result = await within(
        60_000,
        exportDataset({ pg: client, schema: 'caller_bad', tables: { 'linksets.ndjson': 'linksets_raw' } }, path),
      );
      const e = result._unsafeUnwrapErr();
      expect(e.code).toBe('RECORD_NOT_OBJECT');
      expect(e.message).toContain('row 150000 of "caller_bad"."linksets_raw"');
      expect(existsSync(path)).toBe(false);
      await clientIsBack(client, 'caller_bad');
    } finally {
      await client.end();
    }
  }, 120_000);
});
