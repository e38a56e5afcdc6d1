import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { sh, tempDir } from '../../support/tmp.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { cli } from './cli-harness.js';

/**
 * The reader's limits guard against bombs, but a legitimate dataset can be
 * larger: an operator raises a limit with a flag, and the error says which.
 */
const dir = tempDir('bk-cli-limits-');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A tarball (made by GNU tar) of `count` one-record members and a manifest listing them. */
function manyMembers(count: number): string {
  const src = join(dir, `many-${count}`);
  mkdirSync(join(src, 'm'), { recursive: true });
  const members = [];
  for (let i = 0; i < count; i++) {
    const body = `{"_id":"r${i}"}\n`;
    writeFileSync(join(src, 'm', `${i}.ndjson`), body);
    members.push({ name: `m/${i}.ndjson`, records: 1, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  }
  writeFileSync(join(src, 'manifest.json'), JSON.stringify({ schemaVersion: 1, members }));
  const tarball = join(dir, `many-${count}.tar.gz`);
  sh(`cd '${src}' && find m -type f | sort > ../list-${count} && tar --format=posix -czf '${tarball}' manifest.json -T ../list-${count}`);
  return tarball;
}

describe('dataset verify and import: the reader limits as flags', () => {
  it('a dataset of more entries than the default is refused naming --max-entries, and verifies once it is raised', async () => {
    const tarball = manyMembers(10_000); // with manifest.json and the m/ directory: 10,002 entries
    const refused = await cli(['dataset', 'verify', tarball, '--no-sibling-checksums']);
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).toMatch(/^error SIZE_LIMIT_EXCEEDED: .*raise --max-entries/m);
    const raised = await cli(['dataset', 'verify', tarball, '--no-sibling-checksums', '--max-entries', '20000', '--quiet']);
    expect(raised.code, raised.stderr).toBe(0);
  }, 240_000);

  it('--max-line-bytes, --max-decompressed-bytes and --max-compression-ratio reach the reader, and their errors name them', async () => {
    const tarball = join(dir, 'small.tar.zst');
    expect((await cli(['dataset', 'build', tarball, '--linksets', '5', '--chunks', '5', '--quiet'])).code).toBe(0);
    const line = await cli(['dataset', 'verify', tarball, '--max-line-bytes', '10']);
    expect(line.stderr).toMatch(/^error LINE_TOO_LONG: .*--max-line-bytes/m);
    const bytes = await cli(['dataset', 'verify', tarball, '--max-decompressed-bytes', '1000']);
    expect(bytes.stderr).toMatch(/^error SIZE_LIMIT_EXCEEDED: .*raise --max-decompressed-bytes/m);
    const imported = await cli(['dataset', 'import', tarball, '--max-line-bytes', '10', '--dry-run'], { env: { PGURI: db.url } });
    expect(imported.stderr).toMatch(/^error LINE_TOO_LONG: .*--max-line-bytes/m);
    expect((await cli(['dataset', 'verify', tarball, '--max-compression-ratio', '1000', '--quiet'])).code).toBe(0);
  }, 240_000);

  it('dataset import takes --max-entries and --max-compression-ratio too: refused naming them, loaded once they are raised', async () => {
    const small = join(dir, 'import-small.tar.zst');
    expect((await cli(['dataset', 'build', small, '--linksets', '5', '--chunks', '5', '--quiet'])).code).toBe(0);
    const env = { PGURI: db.url };
    const entries = await cli(['dataset', 'import', small, '--schema', 's_limit_entries', '--max-entries', '2'], { env });
    expect(entries.code, entries.stderr).not.toBe(0);
    expect(entries.stderr).toMatch(/^error SIZE_LIMIT_EXCEEDED: .*raise --max-entries/m);
    const raisedEntries = await cli(['dataset', 'import', small, '--schema', 's_limit_entries', '--max-entries', '3', '--quiet'], { env });
    expect(raisedEntries.code, raisedEntries.stderr).toBe(0);
    expect(await db.query('SELECT count(*)::int AS n FROM s_limit_entries.linksets_raw')).toEqual([{ n: 5 }]);

    // 72 MiB of NDJSON that zstd packs far tighter than the default 200:1: legitimate, if padded.
    const pad = 'x'.repeat(1 << 20);
    const padded = join(dir, 'padded.tar.zst');
    const rows = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ _id: `${prefix}${i}`, pad }));
    (await writeDataset(padded, { members: { 'linksets.ndjson': rows(72, 'l'), 'advisory_chunks.ndjson': rows(1, 'c') } }))._unsafeUnwrap();
    const ratio = await cli(['dataset', 'import', padded, '--schema', 's_limit_ratio', '--no-sibling-checksums'], { env });
    expect(ratio.code, ratio.stderr).not.toBe(0);
    expect(ratio.stderr).toMatch(/^error SIZE_LIMIT_EXCEEDED: .*--max-compression-ratio/m);
    const raisedRatio = await cli(
      [
        'dataset',
        'import',
        padded,
        '--schema',
        's_limit_ratio',
        '--no-sibling-checksums',
        '--max-compression-ratio',
        '100000000',
        '--quiet',
      ],
      { env },
    );
    expect(raisedRatio.code, raisedRatio.stderr).toBe(0);
    expect(await db.query('SELECT count(*)::int AS n, min(length(raw->>$1))::int AS pad FROM s_limit_ratio.linksets_raw', ['pad'])).toEqual(
      [{ n: 72, pad: 1 << 20 }],
    );
  }, 240_000);

  it.each([
    ['--max-entries', '0'],
    ['--max-line-bytes', '1e6'],
    ['--max-compression-ratio', 'lots'],
  ])('%s %s is refused naming the flag', async (flag, value) => {
    const r = await cli(['dataset', 'verify', join(dir, 'small.tar.zst'), flag, value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error INVALID_ARGUMENT: ${flag} must be an integer from 1`);
  });
});
