import { BSON } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { extractRecordId } from '../../../src/staging/record-id.js';
import { mongoIdText, recordToDocument, toMongoId } from '../../../src/mongodb/extended-json-id.js';

const HEX = '65a1f0c2e4b0a1b2c3d4e5f6';

/** What the server would store: serialize to BSON bytes and read them back. */
function roundTrip(doc: Record<string, unknown>): Record<string, unknown> {
  return BSON.deserialize(BSON.serialize(doc), { promoteValues: false });
}

describe('toMongoId', () => {
  it('turns {"$oid"} back into an ObjectId and keeps strings and numbers', () => {
    const oid = toMongoId({ $oid: HEX }, BSON)._unsafeUnwrap();
    expect(oid).toBeInstanceOf(BSON.ObjectId);
    expect((oid as InstanceType<typeof BSON.ObjectId>).toHexString()).toBe(HEX);
    expect(toMongoId({ $oid: HEX.toUpperCase() }, BSON)._unsafeUnwrap()).toEqual(new BSON.ObjectId(HEX));
    expect(toMongoId('a-1', BSON)._unsafeUnwrap()).toBe('a-1');
    expect(toMongoId(42, BSON)._unsafeUnwrap()).toBe(42);
  });

  it.each([[{ $oid: 'xyz' }], [{ $oid: `${HEX}00` }], [{ $oid: HEX, extra: 1 }], [''], [null], [[HEX]], [Number.NaN]])(
    'rejects %j as RECORD_INVALID',
    (value) => {
      const r = toMongoId(value, BSON, { table: 't', id: 'x' });
      expect(r._unsafeUnwrapErr().code).toBe('RECORD_INVALID');
    },
  );
});

describe('mongoIdText agrees with extractRecordId on the same record', () => {
  it.each([
    ['{"_id":{"$oid":"65a1f0c2e4b0a1b2c3d4e5f6"}}'],
    ['{"_id":"plain-string"}'],
    ['{"_id":7}'],
    ['{"_id":7.5}'],
    ['{"_id":-3}'],
    ['{"_id":4294967296}'],
  ])('%s', (line) => {
    const viaStaging = extractRecordId(JSON.parse(line) as Record<string, unknown>)._unsafeUnwrap();
    const doc = BSON.EJSON.parse(line, { relaxed: false }) as Record<string, unknown>;
    expect(mongoIdText(doc._id)).toBe(viaStaging);
  });
});

describe('recordToDocument', () => {
  it('keeps an extended-JSON ObjectId _id as an ObjectId, and reads the rest as extended JSON', () => {
    const raw = `{"_id":{"$oid":"${HEX}"},"n":1,"big":{"$numberLong":"9007199254740993"},"at":{"$date":"2025-12-07T14:24:45Z"},"tags":["a"]}`;
    const doc = recordToDocument(raw, HEX, BSON)._unsafeUnwrap();
    expect(Object.keys(doc)[0]).toBe('_id');
    const stored = roundTrip(doc);
    expect(stored._id).toBeInstanceOf(BSON.ObjectId);
    expect((stored._id as InstanceType<typeof BSON.ObjectId>).toHexString()).toBe(HEX);
    expect((stored.n as { _bsontype: string })._bsontype).toBe('Int32');
    // 2^53 + 1 survives exactly, as an int64 (JSON.parse would have rounded it).
    expect((stored.big as InstanceType<typeof BSON.Long>).toString()).toBe('9007199254740993');
    expect(stored.at).toEqual(new Date('2025-12-07T14:24:45Z'));
  });

  it('keeps an upper-case {"$oid"} as the ObjectId the staging id names', () => {
    const upper = HEX.toUpperCase();
    const id = extractRecordId({ _id: { $oid: upper } })._unsafeUnwrap();
    const doc = recordToDocument(`{"_id":{"$oid":"${upper}"}}`, id, BSON)._unsafeUnwrap();
    expect(doc._id).toEqual(new BSON.ObjectId(HEX));
  });

  it('keeps a string or numeric _id as it is', () => {
    expect(recordToDocument('{"_id":"a-1","v":true}', 'a-1', BSON)._unsafeUnwrap()).toEqual({ _id: 'a-1', v: true });
    const numeric = recordToDocument('{"_id":7}', '7', BSON)._unsafeUnwrap();
    expect((numeric._id as { valueOf(): number }).valueOf()).toBe(7);
  });

  it('with a custom id field, sets _id to the record id as text and puts it first', () => {
    const doc = recordToDocument('{"key":"k-9","_id":"other","v":1}', 'k-9', BSON)._unsafeUnwrap();
    expect(Object.keys(doc)).toEqual(['_id', 'key', 'v']);
    expect(doc._id).toBe('k-9');
  });

  it('reports malformed extended JSON as RECORD_INVALID with the id', () => {
    const r = recordToDocument('{"_id":"a","when":{"$date":{"$numberLong":"x"}}}', 'a', BSON, { table: 'linksets_raw' });
    const e = r._unsafeUnwrapErr();
    expect(e.code).toBe('RECORD_INVALID');
    expect(e.context).toMatchObject({ table: 'linksets_raw', id: 'a' });
    expect(e.message).toContain('linksets_raw: record "a"');
  });

  it('reports a bad $oid _id as RECORD_INVALID', () => {
    expect(recordToDocument('{"_id":{"$oid":"nothex"}}', 'nothex', BSON)._unsafeUnwrapErr().code).toBe('RECORD_INVALID');
  });
});
