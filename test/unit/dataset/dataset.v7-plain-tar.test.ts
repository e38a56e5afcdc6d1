/**
 * A plain (uncompressed) v7 tar, as `tar --format=v7` writes it: its header
 * has no `ustar` magic, and the reader told a plain tar by that magic only,
 * so it refused the archive as "not a tar" (UNSUPPORTED_FORMAT) while it
 * read the same archive gzipped, and documents v7 headers as accepted.
 */
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar', 'gzip', 'sha256sum');
const dir = tempDir('bk-v7-');

describe('readDataset: a plain v7 tar', () => {
  it.skipIf(tools.missing)(tools.title('reads it from a path and from a stream as it reads the same archive gzipped'), async () => {
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.ndjson'), '{"_id":"1"}\n{"_id":"2"}\n');
    writeFileSync(join(src, 'manifest.json'), JSON.stringify({ schemaVersion: 1, members: [{ name: 'a.ndjson', records: 2 }] }));
    const file = join(dir, 'v7.tar');
    run('tar', ['--format=v7', '-cf', file, '-C', src, 'manifest.json', 'a.ndjson']);
    run('gzip', ['-k', file]);
    expect(run('tar', ['-tf', file])).toBe('manifest.json\na.ndjson\n');

    const members = async (input: string | ReturnType<typeof createReadStream>) => {
      const r = await readDataset(input).scan();
      expect(r.isOk(), r.isErr() ? r.error.message : '').toBe(true);
      return r._unsafeUnwrap().stats.members.map((m) => [m.name, m.records, m.sha256]);
    };
    const gzipped = await members(`${file}.gz`);
    expect(gzipped.map(([name, records]) => [name, records])).toEqual([
      ['manifest.json', null],
      ['a.ndjson', 2],
    ]);
    expect(await members(file)).toEqual(gzipped);
    expect(await members(createReadStream(file))).toEqual(gzipped);
    const verified = await verifyDataset(file, { expectedSha256: run('sha256sum', [file]).slice(0, 64) });
    expect(verified.isOk() && verified.value.ok).toBe(true);
  });

  it('still refuses a file that is no tar at all', async () => {
    const file = join(dir, 'notes.ndjson');
    writeFileSync(file, `${'{"_id":"1","pad":"x"}\n'.repeat(40)}`);
    const r = await readDataset(file).scan();
    expect(r.isErr() && r.error.code).toBe('UNSUPPORTED_FORMAT');
  });
});
