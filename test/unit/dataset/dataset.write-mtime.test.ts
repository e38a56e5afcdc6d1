/**
 * writeDataset's `mtime` at its edges. The tar headers were written with the
 * mtime cut to a signed 32-bit number: -1, and anything from 2^31
 * (2038-01-19) on, became `000000000-1`-like text that GNU tar refuses to
 * read, and 2^33 became 0 in every header while the manifest said 2242.
 * NaN failed as an IO_ERROR.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar');
const dir = tempDir('bk-mtime-');
const MAX_MTIME = 2 ** 31 - 1;

describe('writeDataset: mtime', () => {
  it.each([-1, 2 ** 33, MAX_MTIME + 1, Number.NaN, Number.POSITIVE_INFINITY, 1.5])(
    'refuses mtime %s with INVALID_ARGUMENT, writing nothing',
    async (mtime) => {
      const out = join(dir, `bad-${String(mtime)}.tar`);
      const r = await writeDataset(out, { compression: 'none', mtime, members: { 'a.ndjson': [{ _id: '1' }] } });
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toMatch(/^mtime must be a whole number of seconds from 0 to 2147483647/);
      expect(existsSync(out)).toBe(false);
    },
  );

  it.skipIf(tools.missing)(tools.title('writes the largest mtime it takes (2038-01-19), as GNU tar reads it back'), async () => {
    const out = join(dir, 'max.tar');
    const r = await writeDataset(out, { compression: 'none', mtime: MAX_MTIME, members: { 'a.ndjson': [{ _id: '1' }] } });
    expect(r._unsafeUnwrap().manifest.createdAt).toBe('2038-01-19T03:14:07Z');
    const listing = run('tar', ['--full-time', '-tvf', out], { env: { ...process.env, TZ: 'UTC' } } as never);
    expect(
      listing
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(/\s+/).slice(3, 5).join(' ')),
    ).toEqual(['2038-01-19 03:14:07', '2038-01-19 03:14:07']);
  });
});
