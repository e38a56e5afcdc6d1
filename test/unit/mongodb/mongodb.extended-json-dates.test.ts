/**
 * `{"$date": "<text>"}` in a record: the instant stored must not depend on
 * the time zone of the host that loads it, and text that is not an
 * ISO-8601 date (which `Date.parse` reads somehow) must be refused, not
 * stored as a guess.
 */
import { BSON } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { parseExtendedJson } from '../../../src/mongodb/extended-json.js';

const savedTz = process.env.TZ;
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

function storedAt(raw: string, tz: string): number {
  process.env.TZ = tz;
  const doc = parseExtendedJson(raw, BSON)._unsafeUnwrap() as { at: Date };
  expect(doc.at).toBeInstanceOf(Date);
  return doc.at.getTime();
}

describe('parseExtendedJson $date strings', () => {
  it.each([
    ['2024-01-01T00:00:00', Date.UTC(2024, 0, 1)],
    ['2024-01-01', Date.UTC(2024, 0, 1)],
    ['2024-06-30T23:59:59.5', Date.UTC(2024, 5, 30, 23, 59, 59, 500)],
    ['2024-01-01T00:00:00+02:00', Date.UTC(2023, 11, 31, 22)],
    ['2025-12-07T14:24:45Z', Date.UTC(2025, 11, 7, 14, 24, 45)],
  ])('%s is the same instant on hosts in any time zone', (text, expected) => {
    const raw = `{"at":{"$date":${JSON.stringify(text)}}}`;
    expect(storedAt(raw, 'America/New_York')).toBe(expected);
    expect(storedAt(raw, 'Asia/Tokyo')).toBe(expected);
    expect(storedAt(raw, 'UTC')).toBe(expected);
  });

  it.each(['1', 'Jan 1 2024', '2024-02-30T00:00:00Z', 'Mon, 01 Jan 2024 00:00:00 GMT'])('%s is refused, naming the field', (text) => {
    const e = parseExtendedJson(`{"at":{"$date":${JSON.stringify(text)}}}`, BSON, { line: 3, id: 'r-1' })._unsafeUnwrapErr();
    expect(e.code).toBe('NUMBER_OUT_OF_RANGE');
    expect(e.context).toMatchObject({ field: 'at', line: 3 });
    expect(e.message).toContain('ISO-8601');
  });
});
