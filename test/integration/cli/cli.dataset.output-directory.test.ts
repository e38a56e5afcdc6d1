import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { cli, jsonOf, stagedTestDatabase } from './cli-harness.js';

const dir = tempDir('bk-cli-output-directory-');
let db: TestDatabase;

beforeAll(async () => {
  db = await stagedTestDatabase(dir);
});
afterAll(async () => {
  await db.drop();
});

describe('an output path that is a directory (out/ for out/ds.tar.zst)', () => {
  it.each([
    ['export', ['dataset', 'export'], [] as string[]],
    ['export --compression gzip', ['dataset', 'export'], ['--compression', 'gzip']],
    ['build', ['dataset', 'build'], ['--linksets', '7', '--chunks', '3']],
  ])('dataset %s is refused before any member is read, naming a tarball path to give; nothing is written', async (name, command, flags) => {
    const parent = join(dir, name.replaceAll(' ', '_'));
    const out = join(parent, 'out');
    mkdirSync(out, { recursive: true });
    const r = await cli([...command, out, ...flags, '--json'], { env: { PGURI: db.url, BACKFILL_KIT_PROGRESS_INTERVAL: '0.001' } });
    expect(r.code, r.stderr).toBe(8);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('IO_ERROR');
    const suffix = flags.includes('gzip') ? '.tar.gz' : '.tar.zst';
    expect(doc.error?.message).toBe(
      `${out} is a directory: give the path of the tarball to write, such as ${join(out, `dataset${suffix}`)}. Nothing was written.`,
    );
    // Refused up front: no member was read (no progress), nothing was spooled or left beside it.
    expect(r.stderr).not.toMatch(/rows|records/);
    expect(readdirSync(parent)).toEqual(['out']);
    expect(readdirSync(out)).toEqual([]);
  });
});
