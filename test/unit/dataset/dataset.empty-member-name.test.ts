/**
 * A member whose name is empty (a PAX `path=` with no value) or names only
 * the directory it is extracted into (`.`, `./`) is refused, rightly: tar
 * substitutes `.` for it and cannot extract it. The refusal said the path
 * was "absolute or escaping", which it is not; it now says what it is.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { padded, paxPath, tarHeader } from '../../support/tar-blocks.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('tar');
const dir = tempDir('bk-empty-name-');
const record = Buffer.from('{"id":1}\n');

async function refusal(path: string): Promise<{ code?: string; message: string }> {
  try {
    for await (const member of readDataset(path)) for await (const _ of member.chunks());
  } catch (error) {
    return error as { code?: string; message: string };
  }
  return expect.fail('the archive was read');
}

describe('a member name that is empty or names no file', () => {
  it.skipIf(tools.missing)(tools.title('an empty PAX path: tar cannot extract it, and the reader says the path is empty'), async () => {
    const file = join(dir, 'empty-pax-path.tar');
    writeFileSync(file, Buffer.concat([paxPath(''), tarHeader('a.ndjson', record.length, '0'), padded(record), Buffer.alloc(1024)]));
    const out = join(dir, 'x');
    mkdirSync(out);
    const tar = spawnSync('tar', ['-xf', file, '-C', out], { encoding: 'utf8' });
    expect(tar.status).not.toBe(0);
    expect(tar.stderr).toMatch(/empty member name/);
    const error = await refusal(file);
    expect(error.code).toBe('MEMBER_PATH_UNSAFE');
    expect(error.message).toBe('member "" has an empty path; every member needs a relative name.');
  });

  it('a ustar name of "." is a directory, not a file', async () => {
    const file = join(dir, 'dot.tar');
    writeFileSync(file, Buffer.concat([tarHeader('.', record.length, '0'), padded(record), Buffer.alloc(1024)]));
    const error = await refusal(file);
    expect(error.code).toBe('MEMBER_PATH_UNSAFE');
    expect(error.message).toMatch(/^member "\." names the directory it is extracted into, not a file/);
  });

  it('writeDataset says the same of the names it is given', async () => {
    for (const [name, said] of [
      ['', /has an empty path/],
      ['./', /names the directory it is extracted into/],
      ['../a.ndjson', /absolute or escaping/],
    ] as const) {
      const written = await writeDataset(join(dir, 'w.tar'), { members: { [name]: [{ id: 1 }] }, compression: 'none' });
      expect(written._unsafeUnwrapErr().code, name).toBe('MEMBER_PATH_UNSAFE');
      expect(written._unsafeUnwrapErr().message, name).toMatch(said);
    }
  });
});
