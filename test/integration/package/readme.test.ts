import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { needTools, tempDir } from '../../support/tmp.js';
import { runNode } from './packed.js';
import { fileOf, readme, readmeProjects } from './readme-blocks.js';

// The README's TypeScript, as a user runs it in a consumer project that
// installed the packed package (readme.compile.test.ts checks that every
// block compiles): the blocks marked `<!-- readme-test: run -->` (the
// Quickstart, and the dataset and staging samples) run in order with tsx
// against a real PostgreSQL and must exit 0; the `<!-- readme-test:
// commonjs -->` block runs with ts-node in a CommonJS project.

const tarTool = needTools('tar');
const work = tempDir('bk-readme-');
let esm: string;
let cjs: string;
let db: TestDatabase;

beforeAll(async () => {
  if (tarTool.missing) return;
  ({ esm, cjs } = await readmeProjects(work));
  db = await createTestDatabase();
}, 300_000);

afterAll(async () => {
  await db?.drop();
});

describe.skipIf(tarTool.missing)(tarTool.title('the README runs against the packed package'), () => {
  it('the Quickstart, dataset and staging blocks run in order with tsx against PostgreSQL, each exiting 0', async () => {
    expect(readme.runBlocks.length).toBeGreaterThanOrEqual(4);
    for (const b of readme.runBlocks) {
      const r = runNode(esm, ['--import', 'tsx', fileOf(b)], { PGURI: db.url });
      expect(r.status, `README line ${b.line}:\n${r.stderr}`).toBe(0);
    }
    // The last run block (the staging sample) exported and rolled back.
    const counts = await db.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM lnm_raw.linksets_raw) + (SELECT count(*) FROM lnm_raw.advisory_chunks_raw) AS n',
    );
    expect(counts[0]?.n).toBe('0');
    expect(readFileSync(join(esm, 'export.tar.zst')).subarray(0, 4).toString('hex')).toBe('28b52ffd'); // zstd magic
  }, 300_000);

  it('a Quickstart block exits non-zero when its step fails: a wrong recorded SHA-256 stops the import, and nothing is loaded', async () => {
    const importBlock = readme.runBlocks.find((b) => b.code.includes('importer.import('));
    expect(importBlock).toBeDefined();
    writeFileSync(join(esm, 'linksets-stage-backfill.tar.zst.sha256'), `${'0'.repeat(64)}  linksets-stage-backfill.tar.zst\n`);
    const r = runNode(esm, ['--import', 'tsx', fileOf(importBlock!)], { PGURI: db.url });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('CHECKSUM_MISMATCH');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM lnm_raw.linksets_raw');
    await client.end();
    expect(rows[0]?.n).toBe('0');
  }, 120_000);

  it('the CommonJS block runs with ts-node (typechecked) and reads the tarball the Quickstart wrote', () => {
    expect(readme.cjsBlocks).toHaveLength(1);
    const tsNode = join(cjs, 'node_modules', 'ts-node', 'dist', 'bin.js');
    const r = runNode(cjs, [tsNode, fileOf(readme.cjsBlocks[0]!), join(esm, 'linksets-stage-backfill.tar.zst')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['advisory_chunks.ndjson 1200', 'linksets.ndjson 340']);
  }, 120_000);
});
