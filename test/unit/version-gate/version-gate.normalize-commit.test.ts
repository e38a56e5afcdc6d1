import { describe, expect, it } from 'vitest';
import { normalizeCommit } from '../../../src/version-gate/index.js';

const sha1 = 'ABCDEF0123456789abcdef0123456789ABCDEF01';
const sha256 = `${'0123456789abcdef'.repeat(4)}`;

describe('normalizeCommit', () => {
  it('accepts full SHA-1 and SHA-256 hashes and lower-cases them', () => {
    expect(normalizeCommit(sha1)._unsafeUnwrap()).toBe(sha1.toLowerCase());
    expect(normalizeCommit(sha256.toUpperCase())._unsafeUnwrap()).toBe(sha256);
    expect(normalizeCommit([sha1])._unsafeUnwrap()).toBe(sha1.toLowerCase());
  });

  it.each([
    [undefined, 'COMMIT_MISSING', 'missing'],
    [null, 'COMMIT_MISSING', 'missing'],
    ['', 'COMMIT_MISSING', 'missing'],
    [[], 'COMMIT_MISSING', 'missing'],
    ['abc1234', 'COMMIT_MALFORMED', 'abbreviated hash (7 hex digits)'],
    [sha1.slice(0, 39), 'COMMIT_MALFORMED', 'abbreviated hash (39 hex digits)'],
    [`${sha1}0`, 'COMMIT_MALFORMED', '41 hex digits'],
    [`${sha256}0`, 'COMMIT_MALFORMED', '65 hex digits'],
    [`${sha1.slice(0, 39)}g`, 'COMMIT_MALFORMED', 'hex digits only'],
    [` ${sha1}`, 'COMMIT_MALFORMED', 'hex digits only'],
    [`${sha1}\r\nX-Injected: 1`, 'COMMIT_MALFORMED', 'hex digits only'],
    [[sha1, sha1], 'COMMIT_MALFORMED', 'sent 2 times'],
    [7, 'COMMIT_MALFORMED', 'must be a string'],
  ])('refuses %j with %s (%s)', (value, code, phrase) => {
    const error = normalizeCommit(value)._unsafeUnwrapErr();
    expect(error.code).toBe(code);
    expect(error.message).toContain(phrase);
  });

  it('echoes at most 100 characters of a bad value', () => {
    const error = normalizeCommit('x'.repeat(5_000))._unsafeUnwrapErr();
    expect(error.message.length).toBeLessThan(300);
    expect(String(error.context.value).length).toBe(101);
  });
});
