/**
 * A line longer than the longest string JavaScript can hold, read as text
 * with `maxLineBytes` raised past it (or `Infinity`): the reader says so with
 * LINE_TOO_LONG and the member and line, not Node's bare ERR_STRING_TOO_LONG.
 */
import { Readable } from 'node:stream';
import { constants } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { BackfillError } from '../../../src/errors.js';
import { tarHeader } from '../../support/tar-blocks.js';

/** A plain tar of one member, `long.ndjson`: one line of `length` bytes, then a newline. The data is one piece, handed out again and again. */
function oneLongLine(length: number): Readable {
  const piece = Buffer.alloc(4 * 1024 ** 2, 0x61);
  const size = length + 1;
  let left = length;
  return Readable.from(
    (function* () {
      yield tarHeader('long.ndjson', size, '0');
      for (; left > piece.length; left -= piece.length) yield piece;
      yield Buffer.concat([piece.subarray(0, left), Buffer.from('\n'), Buffer.alloc((512 - (size % 512)) % 512), Buffer.alloc(1024)]);
    })(),
  );
}

describe('a line of more characters than a string holds', () => {
  it('is LINE_TOO_LONG, naming the member and line, even with maxLineBytes: Infinity', async () => {
    const length = constants.MAX_STRING_LENGTH + 1;
    let thrown: unknown;
    try {
      for await (const member of readDataset(oneLongLine(length), { maxLineBytes: Infinity, memberDigests: false }))
        for await (const _ of member.lines()) expect.fail('no line fits in a string');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BackfillError);
    expect(thrown).toMatchObject({ code: 'LINE_TOO_LONG', context: { member: 'long.ndjson', line: 1 } });
    expect((thrown as Error).message).toContain(`${length} bytes`);
  }, 120_000);
});
