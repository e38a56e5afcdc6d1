/**
 * A member name must be UTF-8, as the manifest (JSON) names it. A tar name
 * field, PAX `path` or GNU long name holding other bytes was decoded with
 * U+FFFD in their place, so the reader named a member `�.ndjson` while
 * `tar -x` made a file named by the bytes themselves: a verified dataset
 * that differs from what tar extracts. Such a name is now
 * `MEMBER_PATH_UNSAFE`, from a path and a stream alike. A name written by
 * `writeDataset` that holds a lone surrogate (no UTF-8 form) was written as
 * U+FFFD under a manifest naming the surrogate, a dataset that never
 * verifies; it is refused too.
 */
import { createReadStream, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { padded, paxPath, tarHeader as header, withChecksum } from '../../support/tar-blocks.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar');
const dir = tempDir('bk-name-utf8-');

function gnuLongName(name: Buffer): Buffer {
  const data = Buffer.concat([name, Buffer.from([0])]);
  const head = header(Buffer.from('././@LongLink'), data.length, 'L');
  head.write('ustar  \0', 257);
  return Buffer.concat([withChecksum(head), padded(data)]);
}

const record = Buffer.from('{"id":1}\n');
const notUtf8 = Buffer.from([0x63, 0xe9, 0x2e, 0x6e, 0x64, 0x6a, 0x73, 0x6f, 0x6e]); // "c\xe9.ndjson", Latin-1

const archives: Record<string, Buffer> = {
  'a ustar name': Buffer.concat([header(notUtf8, record.length, '0'), padded(record)]),
  'a ustar prefix': (() => {
    const h = header(Buffer.from('a.ndjson'), record.length, '0');
    notUtf8.copy(h, 345);
    return Buffer.concat([withChecksum(h), padded(record)]);
  })(),
  'a PAX path': Buffer.concat([paxPath(notUtf8), header(Buffer.from('a.ndjson'), record.length, '0'), padded(record)]),
  'a GNU long name': Buffer.concat([gnuLongName(notUtf8), header(Buffer.from('a.ndjson'), record.length, '0'), padded(record)]),
};

async function read(source: string | ReturnType<typeof createReadStream>): Promise<string> {
  try {
    for await (const member of readDataset(source)) for await (const _ of member.chunks());
    return 'read';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe('member names that are not UTF-8', () => {
  it.skipIf(tools.missing).for(Object.keys(archives))(
    tools.title('in %s: refused, where tar -x makes a file named by other bytes'),
    async (what) => {
      const file = join(dir, `${what.replace(/ /g, '-')}.tar`);
      writeFileSync(file, Buffer.concat([archives[what]!, Buffer.alloc(1024)]));
      const out = join(dir, `${what.replace(/ /g, '-')}.x`);
      run('mkdir', ['-p', out]);
      run('tar', ['-xf', file, '-C', out]);
      // tar made a name that is not UTF-8: no manifest (JSON) can name it.
      const made = readdirSync(out, { encoding: 'buffer' });
      expect(made.some((name) => name.includes(0xe9))).toBe(true);
      expect(await read(file)).toBe('MEMBER_PATH_UNSAFE');
      expect(await read(createReadStream(file))).toBe('MEMBER_PATH_UNSAFE');
    },
  );

  it('a member name with a lone surrogate is refused by writeDataset instead of written as U+FFFD', async () => {
    const written = await writeDataset(join(dir, 'lone.tar'), { members: { 'a\ud800.ndjson': [{ id: 1 }] }, compression: 'none' });
    expect(written._unsafeUnwrapErr().code).toBe('MEMBER_PATH_UNSAFE');
    expect(written._unsafeUnwrapErr().message).toMatch(/not well-formed Unicode/);
  });
});
