/**
 * An export locks its tables before it takes its snapshot, so it waits for
 * an import holding them. It used to wait with no bound (a truncate import
 * holds its tables for its whole load; a session left idle in a transaction
 * that locked one, for ever). It now gives up after `lockTimeoutMs`
 * (`--lock-timeout-ms`) with LOCK_TIMEOUT naming the session that holds the
 * table, and writes no file.
 *
 * LOCK TABLE takes only tables and views: a materialized view, which
 * exported before the export took its locks up front, failed with "cannot
 * lock relation". It is read without the up-front lock again.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset, StagingImporter } from '../../../src/staging/index.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { createTestDatabase, type TestDatabase, withApplicationName } from '../../support/pg.js';
import { scratch, smallDataset, TABLES } from './fixtures.js';

let db: TestDatabase;
let dir: string;
const SCHEMA = 'export_lock';

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch('bk-export-lock-');
  const importer = new StagingImporter({ pg: db.pool, schema: SCHEMA, tables: TABLES });
  (await importer.import(await smallDataset(dir, 'in.tar.zst', 1, 20, 30)))._unsafeUnwrap();
});
afterAll(async () => {
  await db.drop();
});

/** Runs `fn` while a session named `app` holds advisory_chunks_raw in ACCESS EXCLUSIVE mode, as a truncate import does. */
async function whileHeld<T>(app: string, fn: () => Promise<T>): Promise<T> {
  const holder = new pg.Client({ connectionString: withApplicationName(db.url, app) });
  await holder.connect();
  try {
    await holder.query(`BEGIN; LOCK TABLE ${SCHEMA}.advisory_chunks_raw IN ACCESS EXCLUSIVE MODE`);
    return await fn();
  } finally {
    await holder.end();
  }
}

/** `promise`'s outcome, or 'hung' after 20 s. */
function within<T>(promise: PromiseLike<T>): Promise<T | 'hung'> {
  return Promise.race([promise, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())]);
}

describe('exportDataset beside a session holding a table', () => {
  it('fails with LOCK_TIMEOUT naming the holder after lockTimeoutMs, and writes no file', async () => {
    const out = join(dir, 'held.tar.zst');
    const settled = await whileHeld('nightly_import', () =>
      within(exportDataset({ pg: db.url, schema: SCHEMA, tables: TABLES }, out, { lockTimeoutMs: 300 })),
    );
    expect(settled).not.toBe('hung');
    if (settled === 'hung') return;
    expect(settled.isErr()).toBe(true);
    const error = settled._unsafeUnwrapErr();
    expect(error.code).toBe('LOCK_TIMEOUT');
    expect(error.message).toContain(`could not lock ${SCHEMA}.advisory_chunks_raw within lockTimeoutMs=300 ms`);
    expect(error.message).toContain('application_name "nightly_import", state "idle in transaction", AccessExclusiveLock');
    expect(error.message).toContain('No file was written.');
    expect(existsSync(out)).toBe(false);
    // Once the holder is gone, the export runs (with the default lock_timeout: nothing should wait now, but an
    // autovacuum of the table on a busy machine could outlast 300 ms).
    (await exportDataset({ pg: db.url, schema: SCHEMA, tables: TABLES }, out))._unsafeUnwrap();
    expect(existsSync(out)).toBe(true);
  }, 60_000);

  it('refuses a lockTimeoutMs PostgreSQL would read as "wait for ever"', async () => {
    const out = join(dir, 'zero.tar.zst');
    const error = (await exportDataset({ pg: db.url, schema: SCHEMA, tables: TABLES }, out, { lockTimeoutMs: 0 }))._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('lockTimeoutMs');
  });

  it('dataset export --lock-timeout-ms bounds the wait, and the error names the holder', async () => {
    const out = join(dir, 'cli.tar.zst');
    const run = await whileHeld('nightly_import', () =>
      within(cli(['dataset', 'export', out, '--lock-timeout-ms', '200', '--json'], { env: { PGURI: db.url, PGSCHEMA: SCHEMA } })),
    );
    expect(run).not.toBe('hung');
    if (run === 'hung') return;
    const result = jsonOf(run);
    expect(result.ok).toBe(false);
    expect(result.error?.code).toBe('LOCK_TIMEOUT');
    expect(result.error?.message).toContain('within lockTimeoutMs=200 ms');
    expect(result.error?.message).toContain('application_name "nightly_import"');
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('exports a materialized view, which LOCK TABLE refuses', async () => {
    await db.query(`CREATE MATERIALIZED VIEW ${SCHEMA}.chunks_mv AS SELECT id, raw FROM ${SCHEMA}.advisory_chunks_raw`);
    const tables = { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'chunks_mv' };
    const fromView = (await exportDataset({ pg: db.url, schema: SCHEMA, tables }, join(dir, 'mv.tar.zst')))._unsafeUnwrap();
    const fromTable = (await exportDataset({ pg: db.url, schema: SCHEMA, tables: TABLES }, join(dir, 'table.tar.zst')))._unsafeUnwrap();
    expect(fromView.manifest.members).toEqual(fromTable.manifest.members);
  });
});
