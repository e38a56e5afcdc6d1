/** `dataset import` and `dataset rollback` take `--lock-timeout-ms`, and their LOCK_TIMEOUT names who holds the table. */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, withApplicationName, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { scratch, TABLES } from './fixtures.js';

let db: TestDatabase;
let good: string;

beforeAll(async () => {
  db = await createTestDatabase();
  good = join(scratch(), 'good.tar.zst');
  (
    await writeDataset(good, {
      members: { 'linksets.ndjson': generateLinksets(20, 1), 'advisory_chunks.ndjson': generateAdvisoryChunks(10, 2) },
    })
  )._unsafeUnwrap();
  (await new StagingImporter({ pg: db.pool, schema: 'cli_lock', tables: TABLES }).import(good))._unsafeUnwrap();
});
afterAll(async () => {
  await db.drop();
});

it('--lock-timeout-ms bounds the wait, and the error names the blocking session', async () => {
  const holder = new pg.Client({ connectionString: withApplicationName(db.url, 'nightly_report') });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM cli_lock.advisory_chunks_raw');
    for (const args of [
      ['dataset', 'import', good, '--strategy', 'swap'],
      ['dataset', 'rollback'],
    ]) {
      const run = await cli([...args, '--lock-timeout-ms', '100', '--json'], { env: { PGURI: db.url, PGSCHEMA: 'cli_lock' } });
      const out = jsonOf(run);
      expect(out.ok).toBe(false);
      expect(out.error?.code).toBe('LOCK_TIMEOUT');
      expect(out.error?.message).toContain('could not lock cli_lock.advisory_chunks_raw within lockTimeoutMs=100 ms');
      expect(out.error?.message).toContain('application_name "nightly_report", state "idle in transaction"');
    }
    // 0 would be lock_timeout 0, "wait forever", while every later reader queues behind the waiting lock.
    for (const value of ['soon', '0']) {
      const bad = jsonOf(
        await cli(['dataset', 'rollback', '--lock-timeout-ms', value, '--json'], { env: { PGURI: db.url, PGSCHEMA: 'cli_lock' } }),
      );
      expect(bad.error?.code).toBe('INVALID_ARGUMENT');
    }
  } finally {
    await holder.end();
  }
  expect(await db.query('SELECT count(*)::int AS n FROM cli_lock.linksets_raw')).toEqual([{ n: 20 }]);
});
