import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { needTools, tempDir } from '../../support/tmp.js';
import { consumerProject, packedPackage, repoRoot, runNode, typecheck } from './packed.js';
import { readmeTsBlocks, type ReadmeBlock } from './readme-blocks.js';

// The README's TypeScript, as a user pastes it: every ```ts block compiles in
// a consumer project that installed the packed package; the blocks marked
// `<!-- readme-test: run -->` (the Quickstart, and the dataset and staging
// samples) then run in order with tsx against a real PostgreSQL and must exit
// 0; the `<!-- readme-test: commonjs -->` block compiles and runs with ts-node
// in a CommonJS project.

const blocks = readmeTsBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
const fileOf = (b: ReadmeBlock): string => `readme-line-${b.line}.ts`;
const esmBlocks = blocks.filter((b) => b.marker !== 'commonjs');
const runBlocks = blocks.filter((b) => b.marker === 'run');
const cjsBlocks = blocks.filter((b) => b.marker === 'commonjs');
const tarTool = needTools('tar');

const work = tempDir('bk-readme-');
const esm = join(work, 'esm');
const cjs = join(work, 'cjs');
let db: TestDatabase;

beforeAll(async () => {
  if (tarTool.missing) return;
  const packed = await packedPackage();
  consumerProject(esm, packed, { type: 'module', tools: ['typescript', 'tsx', '@types/node', '@types/pg'] });
  consumerProject(cjs, packed, { type: 'commonjs', tools: ['typescript', 'ts-node', '@types/node'] });
  const compilerOptions = { target: 'es2022', strict: true, skipLibCheck: false, types: ['node'], noEmit: true };
  writeFileSync(join(esm, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'nodenext' } }));
  // The declarations are checked once, above; here only how they resolve from CommonJS.
  writeFileSync(
    join(cjs, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { ...compilerOptions, skipLibCheck: true, module: 'commonjs', esModuleInterop: true } }),
  );
  for (const b of esmBlocks) writeFileSync(join(esm, fileOf(b)), b.code);
  for (const b of cjsBlocks) writeFileSync(join(cjs, fileOf(b)), b.code);
  db = await createTestDatabase();
}, 300_000);

afterAll(async () => {
  await db?.drop();
});

/** tsc's complaints, with the README line each one comes from. */
function readmeErrors(output: string): string {
  return output.replace(
    /readme-line-(\d+)\.ts\((\d+),(\d+)\)/g,
    (_, fence: string, line: string, col: string) => `README.md:${Number(fence) + Number(line)}:${col}`,
  );
}

describe.skipIf(tarTool.missing)(tarTool.title('the README, against the packed package'), () => {
  it('has the blocks this test relies on', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    expect(runBlocks.length).toBeGreaterThanOrEqual(4);
    expect(cjsBlocks).toHaveLength(1);
  });

  it('every ts block compiles as written (ESM, module nodenext, strict, with the package declarations checked)', () => {
    const r = typecheck(esm);
    expect(readmeErrors(r.output)).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it('the Quickstart, dataset and staging blocks run in order with tsx against PostgreSQL, each exiting 0', async () => {
    for (const b of runBlocks) {
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
    const importBlock = runBlocks.find((b) => b.code.includes('importer.import('));
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

  it.each([
    ['commonjs', 'node10'],
    ['commonjs', 'bundler'],
    ['node16', 'node16'],
  ])(
    'the CommonJS block compiles in a CommonJS project (module %s, moduleResolution %s)',
    (module, resolution) => {
      const r = typecheck(cjs, ['--module', module, '--moduleResolution', resolution, '--ignoreDeprecations', '6.0']);
      expect(readmeErrors(r.output)).toBe('');
      expect(r.status).toBe(0);
    },
    120_000,
  );

  it('the CommonJS block runs with ts-node (typechecked) and reads the tarball the Quickstart wrote', () => {
    const tsNode = join(cjs, 'node_modules', 'ts-node', 'dist', 'bin.js');
    const r = runNode(cjs, [tsNode, fileOf(cjsBlocks[0]!), join(esm, 'linksets-stage-backfill.tar.zst')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['advisory_chunks.ndjson 1200', 'linksets.ndjson 340']);
  }, 120_000);
});
