/**
 * writeDataset (and exportDataset through it) read SOURCE_DATE_EPOCH with
 * JavaScript's `Number` and took 0 for whatever that did not make a whole
 * number: `abc`, `1.5` and `-5` silently gave mtime 0, and `0x10`, `1e9`
 * and ` 17` gave 16, 1000000000 and 17, while `dataset build` refused them
 * all. A set, non-empty SOURCE_DATE_EPOCH is now read as the command line
 * reads it: decimal digits, or INVALID_ARGUMENT naming it, and nothing is
 * written.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('backfill-kit-sde-');
const saved = process.env.SOURCE_DATE_EPOCH;

afterEach(() => {
  if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
  else process.env.SOURCE_DATE_EPOCH = saved;
});

describe('writeDataset reads SOURCE_DATE_EPOCH as decimal digits', () => {
  it.each(['abc', '1.5', '-5', '0x10', '1e9', ' 17', '17 ', '+17', '\uff11\uff17'])(
    'refuses %j, naming it, and writes nothing',
    async (value) => {
      process.env.SOURCE_DATE_EPOCH = value;
      const path = join(dir, `bad-${Buffer.from(value).toString('hex')}.tar.zst`);
      const written = await writeDataset(path, { members: { 'x.ndjson': [{ _id: 1 }] } });
      expect(written.isErr()).toBe(true);
      const error = written._unsafeUnwrapErr();
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(`SOURCE_DATE_EPOCH must be a whole number of seconds from 0 to 2147483647`);
      expect(error.message).toContain(JSON.stringify(value));
      expect(existsSync(path)).toBe(false);
    },
  );

  it.each([
    ['', '1970-01-01T00:00:00Z'],
    ['0017', '1970-01-01T00:00:17Z'],
    ['1733581485', '2024-12-07T14:24:45Z'],
  ])('takes %j', async (value, createdAt) => {
    process.env.SOURCE_DATE_EPOCH = value;
    const path = join(dir, `good-${Buffer.from(value).toString('hex')}.tar.zst`);
    const written = (await writeDataset(path, { members: { 'x.ndjson': [{ _id: 1 }] } }))._unsafeUnwrap();
    expect(written.manifest.createdAt).toBe(createdAt);
  });
});
