/**
 * RFC 3339 puts no bound on a time's fraction of a second. A document may
 * give one of thousands of digits; reading it must take time in proportion
 * to its length, so one such document cannot hold a backfill up for
 * minutes (its trailing zeros used to be dropped by a pattern that
 * backtracks quadratically).
 */
import { describe, expect, it } from 'vitest';
import { isoTimestamp, isLater, timestampOf, type Timestamp } from '../../../src/statements/normalizers/fields.js';

/**
 * Enough digits that the quadratic pattern took over a minute here (150,000 took 9 s at a load of 15), while the
 * linear reading takes a few milliseconds. The only regular expression work here cannot be counted (see stepsOf),
 * so this one check reads a clock: 5 s is a thousand times what it takes, and a tenth of what it must not take.
 */
const DIGITS = 400_000;

/** Milliseconds `f` takes. */
function timed(f: () => void): number {
  const start = performance.now();
  f();
  return performance.now() - start;
}

const at = (text: string): Timestamp => timestampOf(text) as Timestamp;

describe('times with a long fraction of a second', () => {
  it(`read ${DIGITS.toLocaleString('en')} zeros before a last digit in linear time`, () => {
    const text = `2024-01-01T00:00:00.123${'0'.repeat(DIGITS)}1Z`;
    let iso: string | undefined;
    expect(timed(() => (iso = isoTimestamp(text)))).toBeLessThan(5_000);
    expect(iso).toBe('2024-01-01T00:00:00.123Z');
  });

  it('order as their digits do, however many trailing zeros', () => {
    expect(isLater(at('2024-01-01T00:00:00.1230001Z'), at('2024-01-01T00:00:00.123Z'))).toBe(true);
    expect(isLater(at('2024-01-01T00:00:00.123Z'), at('2024-01-01T00:00:00.1230001Z'))).toBe(false);
    expect(isLater(at('2024-01-01T00:00:00.12300010000Z'), at('2024-01-01T00:00:00.1230001Z'))).toBe(false);
    expect(isLater(at('2024-01-01T00:00:00.1230001Z'), at('2024-01-01T00:00:00.12300010000Z'))).toBe(false);
    expect(isLater(at('2024-01-01T00:00:00.12305Z'), at('2024-01-01T00:00:00.123049999Z'))).toBe(true);
    expect(isLater(at('2024-01-01T00:00:00.123049999Z'), at('2024-01-01T00:00:00.12305Z'))).toBe(false);
  });
});
