import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { sh, tempDir } from '../../support/tmp.js';
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
