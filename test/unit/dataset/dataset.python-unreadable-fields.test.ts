/**
 * Python's tarfile reads a header's mode, uid, gid, mtime, devmajor and
 * devminor, and takes a header where one of them is not an octal number
 * for the end of the archive (after the first header, without an error):
 * it silently lists none of the members from there on. GNU tar reads the
 * digits up to the first blank (`0 000000000` is 0) and ignores the device
 * numbers of a file, so it extracts every member and exits 0; the reader
 * ignored those fields and passed the archive, which a Python loader
 * would read with members missing and no error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { padded, tarHeader, withChecksum } from '../../support/tar-blocks.js';
import { needTools, run, sh, tempDir } from '../../support/tmp.js';

const tools = needTools('tar', 'python3', 'sha256sum');
const dir = tempDir('bk-python-unreadable-');
const a = Buffer.from('{"_id":"a"}\n');
const b = Buffer.from('{"_id":"b"}\n');
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 1,
    members: [
      { name: 'a.ndjson', records: 1 },
      { name: 'b.ndjson', records: 1 },
    ],
  }),
);

/** Python's tarfile's names for the archive's members, and whether it raised. */
function pythonNames(file: string): string {
  const script = 'import sys, tarfile\nprint(" ".join(m.name for m in tarfile.open(sys.argv[1])))';
  return run('python3', ['-c', script, file]).trim();
}

/** manifest.json, a.ndjson, then b.ndjson with `bytes` written at `at` in its header. */
function archive(label: string, at: number, bytes: string): string {
  const header = tarHeader('b.ndjson', b.length, '0');
  header.write(bytes, at, 'latin1');
  const file = join(dir, `${label}.tar`);
  writeFileSync(
    file,
    Buffer.concat([
      tarHeader('manifest.json', manifest.length, '0'),
      padded(manifest),
      tarHeader('a.ndjson', a.length, '0'),
      padded(a),
      withChecksum(header),
      padded(b),
      Buffer.alloc(1024),
    ]),
  );
  return file;
}

async function outcome(input: string | Readable): Promise<string> {
  const read = await readDataset(input).scan();
  if (read.isOk()) return `ok ${read.value.stats.members.map((m) => m.name).join(' ')}`;
  return `${read.error.code} at ${String(read.error.context.offset)}`;
}

describe('a header field Python cannot read, which GNU tar reads or ignores', () => {
  it.skipIf(tools.missing).for([
    ['mtime with a blank after its first digit', 136, '0 000000000\0'],
    ['mode with a blank after its first digit', 100, '0 00644\0'],
    ['devmajor holding a letter', 329, '000000x\0'],
    ['devminor holding a control byte', 337, '\x01\0'],
  ] as const)(tools.title('%s is TAR_CORRUPT, naming the header'), async ([label, at, bytes], { expect }) => {
    const file = archive(label.replace(/\W/g, '_'), at, bytes);
    // GNU tar extracts all three, exit 0; Python lists two and says nothing.
    expect(sh(`tar -tf '${file}'`).trim().split('\n')).toEqual(['manifest.json', 'a.ndjson', 'b.ndjson']);
    expect(sh(`tar -xOf '${file}' b.ndjson | sha256sum`)).toBe(sh(`printf '%s\\n' '{"_id":"b"}' | sha256sum`));
    expect(pythonNames(file)).toBe('manifest.json a.ndjson');

    expect(await outcome(file)).toBe('TAR_CORRUPT at 2048');
    expect(await outcome(Readable.from([readFileSync(file)]))).toBe('TAR_CORRUPT at 2048');
    const verified = await verifyDataset(file, { expectedSha256: run('sha256sum', [file]).slice(0, 64) });
    expect(verified.isErr() && verified.error.code).toBe('TAR_CORRUPT');
  });

  it.skipIf(tools.missing)(
    tools.title('fields as tar writers write them still read: padded with blanks, empty, base-256'),
    async ({ expect }) => {
      for (const [label, at, bytes] of [
        ['mtime blank-padded', 136, '  1234567 \0'],
        ['mode with a trailing blank', 100, '000644 \0'],
        ['devmajor empty', 329, '\0\0\0\0\0\0\0\0'],
        ['uid base-256', 108, '\x80\0\0\0\0\0\0\x01'],
      ] as const) {
        const file = archive(label.replace(/\W/g, '_'), at, bytes);
        expect(pythonNames(file)).toBe('manifest.json a.ndjson b.ndjson');
        expect(await outcome(file)).toBe('ok manifest.json a.ndjson b.ndjson');
      }
    },
  );
});
