/**
 * A dataset line longer than a JavaScript string holds is LINE_TOO_LONG with
 * the library's advice to read it undecoded (`{ encoding: 'buffer' }`), which
 * a CLI operator cannot act on: `dataset verify`/`dataset import` word it as
 * the command line has it, and the fix names the flags, not library options.
 */
import { constants } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { decodeLine } from '../../../src/_internals/ndjson.js';
import { withLimitFlags } from '../../../src/cli/dataset.js';
import { formatError } from '../../../src/cli/output.js';
import type { BackfillError } from '../../../src/errors.js';

/** The reader's own error for a line one byte past what a string holds. */
function tooLongForAString(): BackfillError {
  const length = constants.MAX_STRING_LENGTH + 1;
  try {
    decodeLine(Buffer.alloc(length, 0x61), 0, length, 'big.ndjson', 7);
  } catch (error) {
    return error as BackfillError;
  }
  return expect.fail('a line past a string’s length decoded');
}

describe('a line longer than a string holds, from the command line', () => {
  it('names no library option and no undecoded reading, and says no flag helps', () => {
    const library = tooLongForAString();
    expect(library.code).toBe('LINE_TOO_LONG');
    expect(library.message).toContain("{ encoding: 'buffer' }");
    const text = formatError(withLimitFlags(library), false);
    expect(text).toMatch(/^error LINE_TOO_LONG: big\.ndjson line 7: \d+ bytes, more text than a JavaScript string holds/m);
    expect(text).not.toMatch(/encoding|buffer|\{/);
    expect(text).toMatch(/no flag lets a line that long be read: fix the record/);
    expect(text).toMatch(/^ {2}fix: {5}.*--max-line-bytes.*no flag lets a dataset line past what a JavaScript string holds/m);
  }, 60_000);
});
