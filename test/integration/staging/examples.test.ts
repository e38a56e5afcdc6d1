import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { handTarball, ndjson, run, scratch } from './fixtures.js';
import { needTools } from '../../support/tmp.js';

const zstdTool = needTools('zstd');

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
let db: TestDatabase;
let dir: string;
let good: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch();
  good = join(dir, 'linksets-stage-backfill.tar.zst');
  (
    await writeDataset(good, {
      members: { 'linksets.ndjson': generateLinksets(340, 5), 'advisory_chunks.ndjson': generateAdvisoryChunks(1200, 6) },
    })
  )._unsafeUnwrap();
});
afterAll(async () => {
  await db.drop();
});

function example(script: string, args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', script), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, PGURI: '', CONCELIER_PG_URI: '', DRY_RUN: '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('examples/backfill-store-aoc-19-005.ts', () => {
  it('imports, prints counts and the manifest, exits 0', () => {
    const r = example('backfill-store-aoc-19-005.ts', [good], { CONCELIER_PG_URI: db.url, PGSCHEMA: 'ex' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('linksets_raw=340 (manifest 340) OK');
    expect(r.stdout).toContain('advisory_chunks_raw=1200 (manifest 1200) OK');
    expect(r.stdout).toContain('"schemaVersion": 1');
    expect(r.stdout).toContain(run('sha256sum', [good]).split(' ')[0]!);
  });

  it('DRY_RUN=1 writes nothing', async () => {
    const r = example('backfill-store-aoc-19-005.ts', [good], { PGURI: db.url, PGSCHEMA: 'ex_dry', DRY_RUN: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('DRY RUN');
    expect(await db.query("SELECT 1 FROM pg_namespace WHERE nspname = 'ex_dry'")).toEqual([]);
  });

  it.skipIf(zstdTool.missing)(zstdTool.title('exits non-zero on a count mismatch and keeps the old rows'), async () => {
    const bad = handTarball(dir, 'lying.tar.zst', [
      { name: 'linksets.ndjson', text: '', records: 340 },
      { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
    ]);
    const r = example('backfill-store-aoc-19-005.ts', [bad], { PGURI: db.url, PGSCHEMA: 'ex' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('COUNT_MISMATCH');
    expect(await db.query('SELECT count(*)::int AS n FROM ex.linksets_raw')).toEqual([{ n: 340 }]);
  });

  // An operator used to `backfill-kit dataset import --dry-run` adds the flag: ignored, the import was for real.
  it('refuses an argument after the tarball (exit 2) rather than ignore it: "<tarball> --dry-run" writes nothing', async () => {
    const r = example('backfill-store-aoc-19-005.ts', [good, '--dry-run'], { PGURI: db.url, PGSCHEMA: 'ex_flag' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/usage: .*DRY_RUN=1/s);
    expect(await db.query("SELECT 1 FROM pg_namespace WHERE nspname = 'ex_flag'")).toEqual([]);
  });

  it('exits 2 without a database URL', () => {
    expect(example('backfill-store-aoc-19-005.ts', [good], {}).status).toBe(2);
  });

  it('a database that is down: no table is reported as a MISMATCH, none was compared (it printed MISMATCH for each)', () => {
    const down = new URL(db.url);
    down.port = '1';
    const r = example('backfill-store-aoc-19-005.ts', [good], { PGURI: down.toString(), PGSCHEMA: 'ex' });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('MISMATCH');
    expect(r.stdout).toContain('linksets_raw=0 (manifest ?, not committed) NOT CHECKED');
    expect(r.stderr).toMatch(/DB_CONNECTION: .*\n {2}fix: \S/);
  });
});

describe('examples/export-linksets-tarball.ts', () => {
  it('exports, prints the SHA-256 as sha256sum does, and the same bytes twice', () => {
    const out = join(dir, 'export.tar.zst');
    const env = { PGURI: db.url, PGSCHEMA: 'ex', LINKSETS_TABLE: 'linksets_raw', CHUNKS_TABLE: 'advisory_chunks_raw' };
    const first = example('export-linksets-tarball.ts', [out], env);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe(run('sha256sum', [out]));
    expect(readFileSync(`${out}.sha256`, 'utf8')).toBe(`${first.stdout.split(' ')[0]}  export.tar.zst\n`);
    const second = example('export-linksets-tarball.ts', [out], env);
    expect(second.stdout).toBe(first.stdout);
  });

  it('refuses an argument after the tarball path (exit 2), and writes no tarball', () => {
    const out = join(dir, 'extra.tar.zst');
    const r = example('export-linksets-tarball.ts', [out, '--schema', 'ex'], { PGURI: db.url });
    expect(r.status, r.stderr).toBe(2);
    expect(() => readFileSync(out)).toThrow(/ENOENT/);
  });

  it('fails with a clear error on a hostile table name', () => {
    const r = example('export-linksets-tarball.ts', [join(dir, 'x.tar.zst')], { PGURI: db.url, LINKSETS_TABLE: 'x"; DROP TABLE y; --' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('INVALID_IDENTIFIER');
  });
});
