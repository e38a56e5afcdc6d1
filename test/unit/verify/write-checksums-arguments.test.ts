import { describe, expect, it } from 'vitest';
import { writeChecksums } from '../../../src/verify/index.js';

/** Called from JavaScript with wrong arguments, writeChecksums returns Err(INVALID_ARGUMENT) and never throws. */
describe('writeChecksums with arguments of the wrong type', () => {
  const call = (files: unknown, outPath: unknown) =>
    (writeChecksums as (f: unknown, o: unknown) => ReturnType<typeof writeChecksums>)(files, outPath);

  it.each([
    ['a missing outPath', ['a.txt'], undefined, /outPath must be the path/],
    ['an options object as outPath', ['a.txt'], { files: ['a.txt'] }, /outPath must be the path/],
    ['the arguments swapped', 'SHA256SUMS', ['a.txt'], /outPath must be the path/],
    ['a string as files', 'a.txt', 'SHA256SUMS', /files must be an array of path strings; got "a\.txt"/],
    ['a number among the files', ['a.txt', 7], 'SHA256SUMS', /files must be an array of path strings; got an array holding string, number/],
  ])('%s is INVALID_ARGUMENT', async (_, files, outPath, message) => {
    const result = await call(files, outPath);
    expect(result._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(result._unsafeUnwrapErr().message).toMatch(message);
  });
});
