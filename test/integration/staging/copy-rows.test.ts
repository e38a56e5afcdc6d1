/**
 * copyRows, the COPY of one table's rows, when the server refuses the COPY
 * itself: it must reject with the server's error, never wait.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { copyRows } from '../../../src/staging/pg-copy-rows.js';
import type { StagingRow } from '../../../src/staging/index.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.query(`CREATE TABLE generated_id (id text GENERATED ALWAYS AS (raw->>'_id') STORED PRIMARY KEY, raw jsonb NOT NULL);
    CREATE TABLE no_raw (id text PRIMARY KEY)`);
});
afterAll(async () => {
  await db.drop();
});

async function* rows(): AsyncGenerator<StagingRow[]> {
  yield [{ id: 'a', raw: '{"_id":"a"}', line: 1 }];
}

describe('copyRows', () => {
  it.for([
    ['a generated column', 'generated_id', 'is a generated column'],
    ['a missing column', 'no_raw', 'does not exist'],
  ] as const)(
    'rejects with the server error when the server refuses the COPY before it starts (%s), instead of waiting for ever',
    async ([, table, message]) => {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        const copied = copyRows(client, { schema: 'public', name: table, sql: `"public"."${table}"` }, rows(), false, () => {});
        const settled = await Promise.race([
          copied.then(
            () => 'loaded',
            (e: unknown) => e,
          ),
          new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000).unref()),
        ]);
        expect(settled).not.toBe('hung');
        expect(String((settled as { message?: unknown }).message)).toContain(message);
        // The connection is usable: the transaction rolls back as usual.
        await client.query('ROLLBACK');
        expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      }
    },
  );
});
