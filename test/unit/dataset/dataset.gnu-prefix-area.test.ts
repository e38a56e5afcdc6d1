/**
 * Only a POSIX ustar header (magic `ustar\0`) has a name prefix at bytes
 * 345-499; GNU tar ignores those bytes in GNU and v7 headers (a GNU
 * incremental archive, `tar --format=gnu -G`, keeps the atime and ctime
 * there). Python's tarfile joins them to the name whatever the magic, so
 * it extracts `15305566256/a.ndjson` where GNU tar extracts `a.ndjson`.
 * The reader followed GNU tar alone and passed such an archive, so a
 * dataset that verified could load under other names through Python.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { padded, tarHeader, withChecksum } from '../../support/tar-blocks.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar', 'python3', 'sha256sum');
const dir = tempDir('bk-gnu-prefix-area-');
const record = Buffer.from('{"_id":"a"}\n');
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 1, members: [{ name: 'a.ndjson', records: 1 }] }));

/** The names Python's tarfile gives the archive's entries. */
function pythonNames(file: string): string[] {
  const script = 'import sys, tarfile\nfor m in tarfile.open(sys.argv[1]): print(m.name)';
  return run('python3', ['-c', script, file]).trim().split('\n');
}

/** A header of `magic` whose bytes 345.. hold `area`, its checksum recomputed. */
function withArea(name: string, size: number, magic: string, area: string): Buffer {
  const block = tarHeader(name, size, '0');
  block.fill(0, 257, 265);
  block.write(magic, 257, 'latin1');
  block.write(area, 345, 'latin1');
  return withChecksum(block);
}

async function outcome(input: string | Readable): Promise<string> {
  const read = await readDataset(input).scan();
  if (read.isOk()) return `ok ${read.value.stats.members.map((m) => m.name).join(' ')}`;
  return `${read.error.code} at ${String(read.error.context.offset)}`;
}

describe('bytes in the prefix field of a header that has none', () => {
  it.skipIf(tools.missing)(
    tools.title('a GNU incremental archive (tar --format=gnu -G) is refused: Python names its members otherwise'),
    async ({ expect }) => {
      const src = join(dir, 'src');
      run('mkdir', ['-p', src]);
      writeFileSync(join(src, 'manifest.json'), manifest);
      writeFileSync(join(src, 'a.ndjson'), record);
      const file = join(dir, 'incremental.tar');
      run('tar', ['--format=gnu', '-G', '-cf', file, '-C', src, 'manifest.json', 'a.ndjson']);
      expect(run('tar', ['-tf', file]).trim().split('\n').sort()).toEqual(['a.ndjson', 'manifest.json']);
      const python = pythonNames(file);
      expect(python).toHaveLength(2);
      for (const name of python) expect(name).toMatch(/^[0-7]+\/(a\.ndjson|manifest\.json)$/);

      expect(await outcome(file)).toBe('TAR_CORRUPT at 0');
      expect(await outcome(Readable.from([readFileSync(file)]))).toBe('TAR_CORRUPT at 0');
      const verified = await verifyDataset(file, { expectedSha256: run('sha256sum', [file]).slice(0, 64) });
      expect(verified.isErr() && verified.error.code).toBe('TAR_CORRUPT');
    },
  );

  it.skipIf(tools.missing).for([
    ['GNU', 'ustar  \0', 'pre', 'TAR_CORRUPT at 1024'],
    ['v7', '', 'pre', 'TAR_CORRUPT at 1024'],
    ['GNU, zeros', 'ustar  \0', '', 'ok manifest.json a.ndjson'],
    ['ustar', 'ustar\x0000', 'pre', 'MANIFEST'],
  ] as const)(tools.title('a %s header with bytes there or none'), async ([label, magic, area, expected], { expect }) => {
    const file = join(dir, `${label.replace(/\W/g, '_')}.tar`);
    writeFileSync(
      file,
      Buffer.concat([
        withArea('manifest.json', manifest.length, magic, ''),
        padded(manifest),
        withArea('a.ndjson', record.length, magic, area),
        padded(record),
        Buffer.alloc(1024),
      ]),
    );
    const gnu = run('tar', ['-tf', file]).trim().split('\n');
    const python = pythonNames(file);
    if (expected === 'MANIFEST') {
      // A ustar prefix: both read pre/a.ndjson, and so does the reader.
      expect(gnu).toEqual(['manifest.json', 'pre/a.ndjson']);
      expect(python).toEqual(gnu);
      expect(await outcome(file)).toBe('ok manifest.json pre/a.ndjson');
      return;
    }
    expect(gnu).toEqual(['manifest.json', 'a.ndjson']);
    expect(python).toEqual(area === '' ? gnu : ['manifest.json', `${area}/a.ndjson`]);
    expect(await outcome(file)).toBe(expected);
    expect(await outcome(Readable.from([readFileSync(file)]))).toBe(expected);
  });
});
