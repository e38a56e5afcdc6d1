/**
 * writeDataset without `members` (a JavaScript caller's slip, or options
 * left out) failed as IO_ERROR with a TypeError's text ("Cannot convert
 * undefined or null to object"), sending the reader to the disk; an array
 * of record lists was written as members named "0", "1"…. Both are now
 * INVALID_ARGUMENT naming `members`, and nothing is written.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset, type WriteDatasetOptions } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('backfill-kit-write-members-');

describe('writeDataset members', () => {
  it.each([
    ['no members', {}, 'undefined'],
    ['null', { members: null }, 'null'],
    ['an array', { members: [[{ _id: 1 }]] }, 'an array'],
    ['no options', undefined, 'undefined'],
  ])('refuses %s, writing nothing', async (_, options, got) => {
    const written = await writeDataset(join(dir, 'ds.tar.zst'), options as unknown as WriteDatasetOptions);
    const error = written._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(`members must be an object of member names to their records (or { file }); got ${got}.`);
    expect(readdirSync(dir)).toEqual([]);
  });
});
