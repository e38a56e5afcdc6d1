import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSha256Hex } from '../../../src/_internals/sha256-hex.js';

describe('isSha256Hex', () => {
  it('accepts a digest in either case and nothing else', () => {
    const digest = createHash('sha256').update('x').digest('hex');
    expect([digest, digest.toUpperCase()].map(isSha256Hex)).toEqual([true, true]);
    expect(['', digest.slice(1), `${digest}0`, `${digest.slice(1)}g`, ` ${digest.slice(1)}`, `${digest}\n`].map(isSha256Hex)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
