/**
 * exportDataset took any `progressEveryRows`, reporting when the row count
 * divided by it left no remainder: 0 (or NaN) reported no row counts at all,
 * without a word, and -2 every 2 rows. The importer refuses such values; the
 * export now refuses them the same way, before it connects or writes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset, type ExportProgress } from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { scratch } from './fixtures.js';

let db: TestDatabase;
const dir = scratch('bk-export-progress-');

beforeAll(async () => {
  db = await createTestDatabase();
  await db.query('CREATE SCHEMA ex; CREATE TABLE ex.t (id text PRIMARY KEY, raw jsonb NOT NULL)');
  await db.query(`INSERT INTO ex.t SELECT 'r' || i, jsonb_build_object('i', i) FROM generate_series(1, 6) AS i`);
});
afterAll(async () => {
  await db.drop();
});

describe('exportDataset progressEveryRows', () => {
  it.each([0, -2, Number.NaN, Number.POSITIVE_INFINITY])('refuses %s, writing nothing', async (every) => {
    const out = join(dir, `every-${String(every)}.tar.zst`);
    const seen: ExportProgress[] = [];
    const r = await exportDataset({ pg: db.pool, schema: 'ex', tables: { 't.ndjson': 't' } }, out, {
      progressEveryRows: every,
      onProgress: (p) => seen.push(p),
    });
    expect(r.isErr()).toBe(true);
    expect(r._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(r._unsafeUnwrapErr().message).toBe(`progressEveryRows must be a positive whole number of rows; got ${String(every)}.`);
    expect(seen).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it('reports every 4 rows, and once at the end', async () => {
    const seen: number[] = [];
    const r = await exportDataset({ pg: db.pool, schema: 'ex', tables: { 't.ndjson': 't' } }, join(dir, 'every-4.tar.zst'), {
      progressEveryRows: 4,
      onProgress: (p) => seen.push(p.rows),
    });
    expect(r.isOk()).toBe(true);
    expect(seen).toEqual([4, 6]);
  });
});
