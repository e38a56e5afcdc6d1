import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { exportDataset, StagingImporter } from '../../../src/staging/index.js';
import { run, scratch, sha256File, TABLES } from './fixtures.js';
import { needTools } from '../../support/tmp.js';

let db: TestDatabase;
let dir: string;
const tools = needTools('tar', 'zstd', 'sha256sum');

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch();
  const source = join(dir, 'source.tar.zst');
  (
    await writeDataset(source, {
      members: { 'linksets.ndjson': generateLinksets(340, 11), 'advisory_chunks.ndjson': generateAdvisoryChunks(1200, 12) },
    })
  )._unsafeUnwrap();
  (await new StagingImporter({ pg: db.pool, schema: 'lnm_raw', tables: TABLES }).import(source))._unsafeUnwrap();
  // Ids whose order differs between the C collation and a linguistic one.
  await db.query(
    `INSERT INTO lnm_raw.linksets_raw VALUES ('B-upper', '{"_id":"B-upper"}'), ('a-lower', '{"_id":"a-lower","t":"x\\\\y\\ttab"}'), ('_under', '{"_id":"_under"}')`,
  );
});
afterAll(async () => {
  await db.drop();
});

async function rowsOf(schema: string, table: string): Promise<string> {
  const [r] = await db.query<{ d: string }>(
    `SELECT md5(string_agg(id || '=' || raw::text, ',' ORDER BY id COLLATE "C")) || '/' || count(*) AS d FROM "${schema}"."${table}"`,
  );
  return r!.d;
}

describe('exportDataset', () => {
  it('writes the same bytes twice, ordered by id COLLATE "C", with a manifest', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    const first = (await exportDataset({ pg: db.pool, schema: 'lnm_raw', tables: TABLES }, join(a, 'export.tar.zst')))._unsafeUnwrap();
    const second = (await exportDataset({ pg: db.url, schema: 'lnm_raw', tables: TABLES }, join(b, 'export.tar.zst')))._unsafeUnwrap();
    expect(first.sha256).toBe(second.sha256);
    expect(first.tables).toEqual([
      { member: 'linksets.ndjson', table: 'linksets_raw', rows: 343 },
      { member: 'advisory_chunks.ndjson', table: 'advisory_chunks_raw', rows: 1200 },
    ]);
    expect(first.manifest.members.map((m) => [m.name, m.records])).toEqual([
      ['advisory_chunks.ndjson', 1200],
      ['linksets.ndjson', 343],
    ]);
    expect(sha256File(join(a, 'export.tar.zst'))).toBe(first.sha256);
    // Order: by id in the C collation (uppercase before "_" before lowercase).
    const ids: string[] = [];
    for await (const m of readDataset(join(a, 'export.tar.zst'))) {
      if (m.name !== 'linksets.ndjson') continue;
      for await (const r of m.records()) ids.push(String(r.value._id));
    }
    expect(ids).toEqual([...ids].sort((x, y) => (Buffer.from(x) < Buffer.from(y) ? -1 : 1)));
    expect(ids.indexOf('B-upper')).toBeLessThan(ids.indexOf('_under'));
    expect(ids.indexOf('_under')).toBeLessThan(ids.indexOf('a-lower'));
  });

  it.skipIf(tools.missing)(tools.title('is a plain tarball that tar and sha256sum agree on'), async () => {
    const path = join(dir, 'a', 'export.tar.zst');
    expect(run('tar', ['--zstd', '-tf', path]).trim().split('\n')).toEqual(['manifest.json', 'advisory_chunks.ndjson', 'linksets.ndjson']);
    expect(run('sha256sum', [path]).split(' ')[0]).toBe(sha256File(path));
    const linksets = run('tar', ['--zstd', '-xOf', path, 'linksets.ndjson']);
    expect(linksets.split('\n').filter(Boolean)).toHaveLength(343);
    expect(linksets).toContain('"t": "x\\\\y\\ttab"');
  });

  it('importing the export gives back the same rows', async () => {
    const path = join(dir, 'a', 'export.tar.zst');
    const report = (await new StagingImporter({ pg: db.pool, schema: 'roundtrip', tables: TABLES }).import(path))._unsafeUnwrap();
    expect(report.rows).toBe(1543);
    expect(await rowsOf('roundtrip', 'linksets_raw')).toBe(await rowsOf('lnm_raw', 'linksets_raw'));
    expect(await rowsOf('roundtrip', 'advisory_chunks_raw')).toBe(await rowsOf('lnm_raw', 'advisory_chunks_raw'));
  });

  it('refuses hostile names and reports a missing table', async () => {
    const bad = await exportDataset(
      { pg: db.pool, schema: 'x"; DROP SCHEMA lnm_raw CASCADE; --', tables: TABLES },
      join(dir, 'bad.tar.zst'),
    );
    expect(bad._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
    const missing = await exportDataset({ pg: db.pool, schema: 'nowhere', tables: TABLES }, join(dir, 'missing.tar.zst'));
    expect(missing._unsafeUnwrapErr().code).toBe('TABLE_NOT_FOUND');
    expect(await rowsOf('lnm_raw', 'linksets_raw')).toMatch(/\/343$/);
  });

  it('refuses a row whose raw is NULL or not a JSON object, naming the table and how to find the row, and writes no file', async () => {
    const s = 'export_odd';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb)`);
    for (const [raw, what] of [
      ['NULL', 'NULL'],
      [`'"just text"'`, 'a JSON string'],
      [`'[1, 2]'`, 'a JSON array'],
    ] as const) {
      await db.query(
        `TRUNCATE ${s}.linksets_raw; INSERT INTO ${s}.linksets_raw VALUES ('a', '{"_id":"a"}'), ('b', ${raw}), ('c', '{"_id":"c"}')`,
      );
      const path = join(dir, `odd-${what.replaceAll(' ', '-')}.tar.zst`);
      const e = (await exportDataset({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } }, path))._unsafeUnwrapErr();
      expect(e.code).toBe('RECORD_NOT_OBJECT');
      expect(e.message).toContain(`row 2 of "${s}"."linksets_raw" (in id order) has raw ${what}`);
      expect(e.message).toContain(`SELECT id FROM "${s}"."linksets_raw" WHERE raw IS NULL OR jsonb_typeof(raw) <> 'object'`);
      expect(e.context).toMatchObject({ table: `"${s}"."linksets_raw"`, row: 2 });
      expect(existsSync(path)).toBe(false);
    }
  });

  it.for([
    ['text', `'{"_id":"a"}  {"_id":"b"}'`],
    ['json', `'{"_id":"a","_id":"b"}'`],
  ] as const)(
    'refuses a table whose raw is %s, not jsonb (its text may be two objects, or name a key twice), and writes no file',
    async ([type, raw]) => {
      const s = `export_raw_${type}`;
      await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw ${type} NOT NULL)`);
      await db.query(`INSERT INTO ${s}.linksets_raw VALUES ('a', ${raw})`);
      const path = join(dir, `raw-${type}.tar.zst`);
      const e = (await exportDataset({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } }, path))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(`"${s}"."linksets_raw" has raw of type ${type}, not jsonb`);
      expect(existsSync(path)).toBe(false);
    },
  );

  it('exports a row of 56 MiB in time linear in its length (its pieces are joined once, not rescanned per chunk), and names a row past 64 MiB', {
    timeout: 240_000,
  }, async () => {
    const s = 'export_long_row';
    const chars = 56 * 1024 * 1024;
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    await db.query(
      `INSERT INTO ${s}.linksets_raw SELECT 'a', jsonb_build_object('_id', 'a', 's', repeat('x', ${chars})) UNION ALL SELECT 'b', '{"_id":"b","t":"x\\\\y"}'`,
    );
    const path = join(dir, 'long-row.tar.zst');
    const started = Date.now();
    const out = (await exportDataset({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } }, path))._unsafeUnwrap();
    // Rescanning the row for its end on each 64 KiB chunk took minutes here; joining the pieces once takes seconds.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(out.tables).toEqual([{ member: 'linksets.ndjson', table: 'linksets_raw', rows: 2 }]);
    const lengths: number[] = [];
    for await (const member of readDataset(path)) {
      if (member.name !== 'linksets.ndjson') continue;
      for await (const { value } of member.records())
        lengths.push(((value as { s?: string; t?: string }).s ?? (value as { t?: string }).t ?? '').length);
    }
    expect(lengths).toEqual([chars, 3]);
    // Past the longest line readers take by default, the error names the row and how to find it, and no file is written.
    await db.query(
      `UPDATE ${s}.linksets_raw SET raw = jsonb_build_object('_id', 'b', 's', repeat('y', ${64 * 1024 * 1024})) WHERE id = 'b'`,
    );
    const tooLong = join(dir, 'too-long-row.tar.zst');
    const e = (await exportDataset({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } }, tooLong))._unsafeUnwrapErr();
    expect(e.code).toBe('LINE_TOO_LONG');
    expect(e.message).toContain(`row 2 of "${s}"."linksets_raw" (in id order) is longer than 67108864 bytes`);
    expect(e.message).toContain(`SELECT id FROM "${s}"."linksets_raw" WHERE octet_length(raw::text) > 67108864`);
    expect(e.context).toMatchObject({ table: `"${s}"."linksets_raw"`, row: 2 });
    expect(existsSync(tooLong)).toBe(false);
  });
});
