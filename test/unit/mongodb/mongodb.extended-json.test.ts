/**
 * Numbers in records, read as mongoimport reads them: the literal's text
 * decides the type, and nothing is rounded, wrapped, made infinite or
 * turned into 1970.
 */
import { BSON, type Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { jsonNumberType, parseExtendedJson } from '../../../src/mongodb/extended-json.js';
import { MongoStagingTarget } from '../../../src/mongodb/mongo-staging-target.js';
import { FakeMongo } from '../../support/recording-mongo-fake.js';

function read(raw: string): Record<string, unknown> {
  return parseExtendedJson(raw, BSON)._unsafeUnwrap() as Record<string, unknown>;
}

function typed(value: unknown): [string, string] {
  const v = value as { _bsontype?: string; toString(): string; valueOf(): unknown };
  return [v._bsontype ?? typeof value, v._bsontype === 'Long' ? v.toString() : String(v.valueOf())];
}

describe('jsonNumberType: the literal decides', () => {
  it.each([
    ['0', '$numberInt'],
    ['-0', '$numberInt'],
    ['7', '$numberInt'],
    ['2147483647', '$numberInt'],
    ['-2147483648', '$numberInt'],
    ['2147483648', '$numberLong'],
    ['-2147483649', '$numberLong'],
    ['9007199254740993', '$numberLong'],
    ['9223372036854775807', '$numberLong'],
    ['-9223372036854775808', '$numberLong'],
    ['7.0', '$numberDouble'],
    ['1e3', '$numberDouble'],
    ['1E-3', '$numberDouble'],
    ['-0.0', '$numberDouble'],
    ['1.7976931348623157e308', '$numberDouble'],
  ])('%s → %s, its text unchanged', (text, type) => {
    const t = jsonNumberType(text);
    expect(t).toEqual({ ok: true, canonical: { [type]: text } });
  });

  it.each([
    ['9223372036854775808', '64-bit'],
    ['-9223372036854775809', '64-bit'],
    ['99999999999999999999999', '64-bit'],
    ['1e400', 'double'],
    ['-1e400', 'double'],
    ['1.8e308', 'double'],
  ])('%s is refused (%s)', (text, word) => {
    const t = jsonNumberType(text);
    expect(t.ok).toBe(false);
    expect(!t.ok && t.why).toContain(word);
  });
});

describe('parseExtendedJson', () => {
  it('keeps every integer exact and every decimal literal a double (the cases the old reader got wrong)', () => {
    const doc = read(
      '{"big":9007199254740993,"seven":7.0,"small":7,"long":{"$numberLong":"9223372036854775807"},"arr":[1,2.5,3000000000]}',
    );
    expect(typed(doc.big)).toEqual(['Long', '9007199254740993']);
    expect(typed(doc.seven)).toEqual(['Double', '7']);
    expect(typed(doc.small)).toEqual(['Int32', '7']);
    expect(typed(doc.long)).toEqual(['Long', '9223372036854775807']);
    expect((doc.arr as unknown[]).map(typed)).toEqual([
      ['Int32', '1'],
      ['Double', '2.5'],
      ['Long', '3000000000'],
    ]);
    // The bytes the driver would send carry those types: an oracle independent of our reading.
    const back = BSON.deserialize(BSON.serialize(doc), { promoteLongs: false, promoteValues: false });
    expect(typed(back.big)).toEqual(['Long', '9007199254740993']);
    expect(typed(back.seven)).toEqual(['Double', '7']);
  });

  it('reads the other extended JSON types as before', () => {
    const doc = read(
      '{"id":{"$oid":"65a1f0c2e4b0a1b2c3d4e5f6"},"at":{"$date":"2025-12-07T14:24:45Z"},"ms":{"$date":{"$numberLong":"0"}},"ts":{"$timestamp":{"t":5,"i":1}},"min":{"$minKey":1},"d":{"$numberDecimal":"1.10"},"inf":{"$numberDouble":"Infinity"}}',
    );
    expect((doc.id as BSON.ObjectId).toHexString()).toBe('65a1f0c2e4b0a1b2c3d4e5f6');
    expect(doc.at).toEqual(new Date('2025-12-07T14:24:45Z'));
    expect(doc.ms).toEqual(new Date(0));
    expect(doc.ts).toEqual(new BSON.Timestamp({ t: 5, i: 1 }));
    expect((doc.min as { _bsontype: string })._bsontype).toBe('MinKey');
    expect(String(doc.d)).toBe('1.10');
    expect(typed(doc.inf)).toEqual(['Double', 'Infinity']);
  });

  it.each([
    ['{"n":1e400}', 'n'],
    ['{"a":{"b":[0,9223372036854775808]}}', 'a.b[1]'],
    ['{"n":{"$numberLong":"9223372036854775808"}}', 'n'],
    ['{"n":{"$numberInt":"2147483648"}}', 'n'],
    ['{"n":{"$numberDouble":"1e400"}}', 'n'],
    ['{"at":{"$date":{"$numberLong":"9000000000000000"}}}', 'at'],
    ['{"at":{"$date":"+275760-09-13T00:00:00.001Z"}}', 'at'],
  ])('%s is NUMBER_OUT_OF_RANGE naming field %s, the record and the line', (raw, field) => {
    const r = parseExtendedJson(raw, BSON, { table: 'linksets_raw', line: 12, id: 'r-1' });
    const e = r._unsafeUnwrapErr();
    expect(e.code).toBe('NUMBER_OUT_OF_RANGE');
    expect(e.context).toMatchObject({ table: 'linksets_raw', line: 12, id: 'r-1', field });
    expect(e.message).toMatch(/^linksets_raw, line 12: record "r-1": field /);
  });

  it.each([
    ['{"a":1e400,"b":{"c":[1,99999999999999999999]},"d":{"$numberInt":"x"}}', 'NUMBER_OUT_OF_RANGE', 'field a ='],
    ['{"a":[0,{"$numberLong":"1.5"}],"b":1e400}', 'RECORD_INVALID', '"1.5" is not an integer'],
  ])('a record with several problems is refused for the first in document order: %s', (raw, code, words) => {
    const e = parseExtendedJson(raw, BSON)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.message).toContain(words);
  });

  it.each(['{"n":{"$numberLong":"x"}}', '{"n":{"$numberDouble":"seven"}}', '{"n":', '{"at":{"$date":{"$numberLong":"1.5"}}}'])(
    '%s is RECORD_INVALID (malformed, not out of range)',
    (raw) => {
      expect(parseExtendedJson(raw, BSON)._unsafeUnwrapErr().code).toBe('RECORD_INVALID');
    },
  );
});

describe('through the staging target', () => {
  it.each([
    ['{"_id":"b","n":1e400}', 'NUMBER_OUT_OF_RANGE', { field: 'n' }],
    ['{"_id":"b","n":{"$numberDouble":"0x10"}}', 'RECORD_INVALID', {}],
  ])('%s stops the load (%s) with the line that holds it, and nothing of the load is committed', async (bad, code, more) => {
    const fake = new FakeMongo();
    const target = new MongoStagingTarget({ db: fake.db() as unknown as Db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    async function* batches() {
      yield [
        { id: 'a', raw: '{"_id":"a","n":1}', line: 1 },
        { id: 'b', raw: bad, line: 2 },
      ];
    }
    const r = await s.load('alpha', batches());
    expect(r._unsafeUnwrapErr().code).toBe(code);
    expect(r._unsafeUnwrapErr().context).toMatchObject({ line: 2, id: 'b', ...more });
    (await s.abort())._unsafeUnwrap();
    expect(fake.collectionNames()).toEqual(['backfill_kit_staging']);
  });
});
