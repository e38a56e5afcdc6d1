/**
 * createThrowawayDatabase checked only the whole name, its prefix and 12
 * random hex digits: with `prefix: ''` the name began with a digit 5 times
 * in 8 and was refused, naming a database name nobody wrote, and created
 * a database the other times; a prefix too long for the hex digits to fit
 * in PostgreSQL's 63 bytes was refused naming the name too. The prefix is
 * now checked on its own, so the same prefix always gets the same answer,
 * which names it.
 */
import { describe, expect, inject, it } from 'vitest';
import { createThrowawayDatabase } from '../../../src/testing/index.js';

describe('createThrowawayDatabase prefix', () => {
  it.each([
    ['', 16],
    ['p'.repeat(52), 1],
    ['9bk_', 1],
  ])('refuses %j every time, naming the prefix, and creates nothing', async (prefix, tries) => {
    const outcomes = new Set<string>();
    for (let i = 0; i < tries; i++) {
      const made = await createThrowawayDatabase({ serverUrl: inject('pgUrl'), prefix });
      if (made.isOk()) await made.value.drop();
      outcomes.add(made.isOk() ? 'created' : `${made.error.code}: ${made.error.message}`);
    }
    expect([...outcomes]).toEqual([
      `INVALID_IDENTIFIER: prefix must be a plain identifier of 1 to 51 bytes (letters, digits, "_" and "$", starting with a letter or "_"), which the 12 hex digits after it keep within PostgreSQL's 63; got ${JSON.stringify(prefix)}.`,
    ]);
  });

  it('takes the longest prefix that fits, and an uppercase one', async () => {
    for (const prefix of ['p'.repeat(51), 'Bk_Test_']) {
      const made = (await createThrowawayDatabase({ serverUrl: inject('pgUrl'), prefix }))._unsafeUnwrap();
      expect(made.name.startsWith(prefix)).toBe(true);
      await made.drop();
    }
  });
});
