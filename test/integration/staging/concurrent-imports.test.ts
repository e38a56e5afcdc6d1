/**
 * Careless operators: several imports into the same tables at once. Each
 * one commits whole or fails whole, the tables always hold one dataset's
 * rows (never a mix across tables), and no fresh or old table stays behind.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { StagingImporter, type StagingStrategy } from '../../../src/staging/index.js';
import { scratch, TABLES } from './fixtures.js';

let db: TestDatabase;
let dir: string;
const sets = [
  { linksets: 340, chunks: 1200 },
  { linksets: 120, chunks: 30 },
  { linksets: 7, chunks: 900 },
] as const;
const paths: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch('bk-staging-concurrent-');
  for (const [i, set] of sets.entries()) {
    const path = join(dir, `set${i}.tar.zst`);
    (
      await writeDataset(path, {
        members: {
          'linksets.ndjson': generateLinksets(set.linksets, 10 + i),
          'advisory_chunks.ndjson': generateAdvisoryChunks(set.chunks, 20 + i),
        },
      })
    )._unsafeUnwrap();
    paths.push(path);
  }
});
afterAll(async () => {
  await db.drop();
});

async function state(schema: string): Promise<{ linksets: number; chunks: number; leftovers: number }> {
  const [row] = await db.query<{ linksets: number; chunks: number; leftovers: number }>(
    `SELECT (SELECT count(*)::int FROM ${schema}.linksets_raw) AS linksets, (SELECT count(*)::int FROM ${schema}.advisory_chunks_raw) AS chunks,
            (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname LIKE '\\_bk\\_%') AS leftovers`,
    [schema],
  );
  return row!;
}

describe('imports into the same tables at once', () => {
  for (const strategies of [
    ['swap', 'swap', 'swap'],
    ['swap', 'truncate', 'swap'],
    ['truncate', 'truncate', 'truncate'],
  ] as StagingStrategy[][]) {
    it(`${strategies.join(' + ')}: each all or nothing, the tables hold one dataset, nothing left behind`, async () => {
      const s = `s_concurrent_${strategies.map((x) => x[0]).join('')}`;
      const importer = new StagingImporter({ pg: db.pool, schema: s, tables: TABLES, lockTimeoutMs: 60_000 });
      expect((await importer.import(paths[0]!, { strategy: 'swap' })).isOk()).toBe(true);
      await db.query(`CREATE INDEX kinds ON ${s}.linksets_raw ((raw->>'kind'))`);
      for (let round = 0; round < 3; round += 1) {
        const results = await Promise.all(strategies.map((strategy, i) => importer.import(paths[i]!, { strategy })));
        for (const r of results) if (r.isErr()) throw r.error;
        const now = await state(s);
        expect(sets.map((x) => ({ ...x, leftovers: 0 }))).toContainEqual(now);
        expect(
          await db.query(`SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = '${s}.linksets_raw'::regclass ORDER BY 1`),
        ).toEqual([{ i: `${s}.kinds` }, { i: `${s}.linksets_raw_pkey` }]);
      }
    });
  }
});
