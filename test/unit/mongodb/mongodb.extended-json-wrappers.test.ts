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

describe('$dbPointer: BSON type 0x0C, which the driver cannot write', () => {
  const raw = '{"a":{"$dbPointer":{"$ref":"c","$id":{"$oid":"65a1f0c2e4b0a1b2c3d4e5f6"}}}}';

  it('is stored as a DBPointer (element type 0x0C) or refused with RECORD_INVALID naming the field, never as an embedded document', () => {
    const r = parseExtendedJson(raw, BSON, { table: 'alpha', line: 2, id: 'x' });
    if (r.isOk()) {
      // The first element's type byte follows the document's 4-byte length.
      expect(BSON.serialize(r.value as Record<string, unknown>)[4]).toBe(0x0c);
      return;
    }
    expect(r.error.code).toBe('RECORD_INVALID');
    expect(r.error.message).toContain('field a');
    expect(r.error.context).toMatchObject({ table: 'alpha', line: 2, id: 'x' });
  });

  it('a DBRef ({"$ref", "$id"}), an embedded document by design, is stored as one', () => {
    const doc = parseExtendedJson('{"a":{"$ref":"c","$id":{"$oid":"65a1f0c2e4b0a1b2c3d4e5f6"}}}', BSON)._unsafeUnwrap();
    expect(BSON.serialize(doc as Record<string, unknown>)[4]).toBe(0x03);
  });
});

describe('legacy $binary ({"$binary": "<base64>", "$type": "<hex>"}), as mongoexport wrote it before Extended JSON v2', () => {
  it.each([
    ['AQIDBAU=', '80'],
    ['AQIDBAU=', '0'],
    ['yO2rw/c4TKO2jauSqRR4ow==', '04'],
  ])('"%s" of subtype "%s" is stored as the Binary the BSON library reads from it in legacy mode', (base64, type) => {
    const raw = `{"a":{"$binary":"${base64}","$type":"${type}"}}`;
    const oracle = BSON.EJSON.parse(raw, { relaxed: false, legacy: true }) as Record<string, unknown>;
    const doc = parseExtendedJson(raw, BSON)._unsafeUnwrap() as Record<string, unknown>;
    expect(Buffer.from(BSON.serialize(doc)).toString('hex')).toBe(Buffer.from(BSON.serialize(oracle)).toString('hex'));
    expect((sentValue(raw) as BSON.Binary).sub_type).toBe(Number.parseInt(type, 16));
  });

  it.each([
    ['{"a":{"$binary":"AQID","$type":"zz"}}'],
    ['{"a":{"$binary":"AQID","$type":"100"}}'],
    ['{"a":{"$binary":"AQID","$type":4}}'],
    ['{"a":{"$binary":"AQID"}}'],
  ])('%s is RECORD_INVALID', (raw) => {
    expect(parseExtendedJson(raw, BSON)._unsafeUnwrapErr().code).toBe('RECORD_INVALID');
  });
});

describe('$undefined: BSON type 0x06, which the driver cannot write', () => {
  it('is stored as undefined (element type 0x06) or refused with RECORD_INVALID naming the field, never as null', () => {
    const r = parseExtendedJson('{"a":{"b":{"$undefined":true}}}', BSON, { table: 'alpha', line: 5, id: 'x' });
    if (r.isOk()) {
      const a = (r.value as { a: Record<string, unknown> }).a;
      // The first element's type byte follows the document's 4-byte length.
      expect(BSON.serialize(a)[4]).toBe(0x06);
      return;
    }
    expect(r.error.code).toBe('RECORD_INVALID');
    expect(r.error.message).toContain('field a.b');
    expect(r.error.context).toMatchObject({ table: 'alpha', line: 5, id: 'x' });
  });
});
