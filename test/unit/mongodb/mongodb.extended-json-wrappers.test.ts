/**
 * Values of extended JSON type wrappers whose text the BSON library reads
 * loosely (`parseFloat`, unsigned 32-bit wrapping): each is stored as the
 * value its text spells, as the Extended JSON spec defines it, or refused;
 * never as another value.
 */
import { BSON } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { parseExtendedJson } from '../../../src/mongodb/extended-json.js';

/** The value the driver would send for field `a`, read back from its BSON bytes. */
function sentValue(raw: string): unknown {
  const doc = parseExtendedJson(raw, BSON)._unsafeUnwrap() as Record<string, unknown>;
  return BSON.deserialize(BSON.serialize(doc), { promoteValues: false }).a;
}

describe('$numberDouble: a decimal number, Infinity, -Infinity or NaN', () => {
  it('{"$numberDouble": "NaN"} (canonical Extended JSON) is stored as the double NaN, as the EJSON parser reads it', () => {
    const oracle = BSON.EJSON.parse('{"a":{"$numberDouble":"NaN"}}', { relaxed: false }) as { a: BSON.Double };
    const a = sentValue('{"a":{"$numberDouble":"NaN"}}') as BSON.Double;
    expect(a._bsontype).toBe('Double');
    expect(Number.isNaN(a.valueOf())).toBe(true);
    expect(Number.isNaN(oracle.a.valueOf())).toBe(true);
  });

  it.each(['-0.0', '1e5', '.5', '+1', '-1.25E-3', 'Infinity', '-Infinity'])('"%s" is stored as the double it spells', (text) => {
    const a = sentValue(`{"a":{"$numberDouble":"${text}"}}`) as BSON.Double;
    expect(a._bsontype).toBe('Double');
    expect(Object.is(a.valueOf(), Number(text))).toBe(true);
  });

  it.each(['0x10', '0o17', '0b11', ' 1', '1 ', 'nan', 'inf', '+Infinity'])(
    '"%s" is no decimal number: RECORD_INVALID, not the double 0 (or another value) its prefix would give',
    (text) => {
      const r = parseExtendedJson(`{"a":{"$numberDouble":"${text}"}}`, BSON, { table: 'alpha', line: 4, id: 'x' });
      const e = r._unsafeUnwrapErr();
      expect(e.code).toBe('RECORD_INVALID');
      expect(e.context).toMatchObject({ table: 'alpha', line: 4, id: 'x' });
    },
  );
});

describe('$timestamp: t and i are unsigned 32-bit integers', () => {
  it.each([
    ['{"a":{"$timestamp":{"t":4294967296,"i":1}}}', 'a.t', '4294967296'],
    ['{"a":{"$timestamp":{"t":1,"i":4294967296}}}', 'a.i', '4294967296'],
    ['{"a":[{"$timestamp":{"t":8589934593,"i":0}}]}', 'a[0].t', '8589934593'],
  ])('%s is NUMBER_OUT_OF_RANGE naming %s, not a timestamp wrapped modulo 2^32', (raw, field, value) => {
    const e = parseExtendedJson(raw, BSON, { table: 'alpha', line: 7, id: 'x' })._unsafeUnwrapErr();
    expect(e.code).toBe('NUMBER_OUT_OF_RANGE');
    expect(e.context).toMatchObject({ table: 'alpha', line: 7, id: 'x', field });
    expect(e.message).toContain(value);
  });

  it('the largest t and i are stored as they are', () => {
    const a = sentValue('{"a":{"$timestamp":{"t":4294967295,"i":4294967295}}}') as BSON.Timestamp;
    expect(a._bsontype).toBe('Timestamp');
    expect([a.t, a.i]).toEqual([4294967295, 4294967295]);
  });
});
