/**
 * Field names a hostile or careless dataset carries (`__proto__`,
 * `constructor`, `$`-prefixed, dotted, empty), read as mongoimport reads
 * them: every field the line holds is stored under its own name, or the
 * record is refused; none is dropped without a word.
 */
import { BSON, type Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { parseExtendedJson } from '../../../src/mongodb/extended-json.js';
import { MongoStagingTarget } from '../../../src/mongodb/mongo-staging-target.js';
import type { StagingRow } from '../../../src/staging/staging-target.js';
import { FakeMongo } from '../../support/recording-mongo-fake.js';

/** What the server would store: the BSON bytes the driver sends, read back. */
function stored(value: unknown): Record<string, unknown> {
  return BSON.deserialize(BSON.serialize(value as Record<string, unknown>), { promoteValues: false });
}

/** Loads `rows` into alpha; commits when the load succeeds, aborts when it fails. */
async function loadOne(rows: readonly StagingRow[], mode: 'insert' | 'upsert' = 'insert') {
  const fake = new FakeMongo();
  const target = new MongoStagingTarget({ db: fake.db() as unknown as Db, collections: ['alpha'], mode, retryDelayMs: 1 });
  const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
  async function* batches() {
    yield [...rows];
  }
  const loaded = await s.load('alpha', batches());
  if (loaded.isErr()) {
    (await s.abort())._unsafeUnwrap();
    return { fake, loaded };
  }
  (await s.commit())._unsafeUnwrap();
  return { fake, loaded };
}

describe('__proto__ and constructor are ordinary field names', () => {
  const raw = '{"_id":"a","__proto__":{"x":1},"constructor":{"prototype":{"y":2}},"n":{"__proto__":[1,2]},"z":3}';

  it('parseExtendedJson keeps a `__proto__` field as a field, at the top and nested, and pollutes no prototype', () => {
    const doc = parseExtendedJson(raw, BSON)._unsafeUnwrap() as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(['_id', '__proto__', 'constructor', 'n', 'z']);
    expect(Object.getPrototypeOf(doc)).toBe(Object.prototype);
    const back = stored(doc);
    expect(Object.keys(back)).toEqual(['_id', '__proto__', 'constructor', 'n', 'z']);
    expect(Object.keys(back.n as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('a record with a `__proto__` field is stored with it, as mongoimport stores it', async () => {
    const { fake, loaded } = await loadOne([{ id: 'a', raw, line: 1 }]);
    expect(loaded._unsafeUnwrap()).toBe(1);
    const [doc] = fake.documents('alpha') ?? [];
    expect(Object.keys(doc ?? {})).toEqual(['_id', '__proto__', 'constructor', 'n', 'z']);
    expect(Object.hasOwn(doc ?? {}, '__proto__')).toBe(true);
  });
});

describe('an extended JSON type wrapper holds one value: other fields beside it are refused, not dropped', () => {
  it.for([
    ['{"_id":"a","n":{"$numberLong":"1","x":2}}', 'n', 'x'],
    ['{"_id":"a","n":{"$numberInt":"1","x":2}}', 'n', 'x'],
    ['{"_id":"a","n":{"$numberDouble":"1.5","x":2}}', 'n', 'x'],
    ['{"_id":"a","n":{"$numberDecimal":"1.5","x":2}}', 'n', 'x'],
    ['{"_id":"a","at":{"$date":"2020-01-01T00:00:00Z","tz":"CET"}}', 'at', 'tz'],
    ['{"_id":"a","o":{"nested":{"$oid":"65a1f0c2e4b0a1b2c3d4e5f6","note":"keep me"}}}', 'o.nested', 'note'],
    ['{"_id":"a","t":{"$timestamp":{"t":1,"i":2},"x":1}}', 't', 'x'],
    ['{"_id":"a","u":{"$undefined":true,"x":1}}', 'u', 'x'],
    ['{"_id":"a","m":{"$minKey":1,"x":1}}', 'm', 'x'],
    ['{"_id":"a","b":{"$binary":{"base64":"AA==","subType":"00"},"x":1}}', 'b', 'x'],
    ['{"_id":"a","r":{"$regularExpression":{"pattern":"a","options":""},"x":1}}', 'r', 'x'],
    ['{"_id":"a","arr":[{"$numberLong":"1","x":2}]}', 'arr[0]', 'x'],
  ] as const)('%s is RECORD_INVALID naming field %s and the stray %s', ([raw, field, stray]) => {
    const e = parseExtendedJson(raw, BSON, { table: 'alpha', line: 3, id: 'a' })._unsafeUnwrapErr();
    expect(e.code).toBe('RECORD_INVALID');
    expect(e.message).toContain(`field ${field}`);
    expect(e.message).toContain(JSON.stringify(stray));
    expect(e.context).toMatchObject({ table: 'alpha', line: 3, id: 'a' });
  });

  it('the forms that do carry more than one key still read: $regex/$options, $code/$scope, a DBRef with fields', () => {
    const doc = parseExtendedJson(
      '{"r":{"$regex":"a","$options":"i"},"c":{"$code":"f()","$scope":{"x":1}},"ref":{"$ref":"c","$id":1,"extra":2},"plain":{"$foo":1,"bar":2}}',
      BSON,
    )._unsafeUnwrap() as Record<string, unknown>;
    expect((doc.r as { _bsontype: string })._bsontype).toBe('BSONRegExp');
    expect((doc.c as { _bsontype: string })._bsontype).toBe('Code');
    expect((doc.ref as { _bsontype: string; fields: unknown })._bsontype).toBe('DBRef');
    expect(BSON.EJSON.serialize({ ref: doc.ref }, { relaxed: true }).ref).toEqual({ $ref: 'c', $id: 1, extra: 2 });
    expect(Object.keys(doc.plain as object)).toEqual(['$foo', 'bar']);
  });

  it('a wrapper key whose value is null is no wrapper: the object is stored as it is, every field kept', () => {
    const doc = parseExtendedJson('{"n":{"$oid":null,"other":1}}', BSON)._unsafeUnwrap() as Record<string, unknown>;
    expect(Object.keys(stored(doc).n as object)).toEqual(['$oid', 'other']);
  });

  it('through the staging target the load stops at that line and nothing is committed', async () => {
    const { fake, loaded } = await loadOne([
      { id: 'a', raw: '{"_id":"a","n":1}', line: 1 },
      { id: 'b', raw: '{"_id":"b","n":{"$numberLong":"1","unit":"ms"}}', line: 2 },
    ]);
    expect(loaded._unsafeUnwrapErr().code).toBe('RECORD_INVALID');
    expect(loaded._unsafeUnwrapErr().context).toMatchObject({ line: 2, id: 'b' });
    expect(fake.collectionNames()).toEqual(['backfill_kit_staging']);
  });
});

describe('top-level `$`-prefixed fields in upsert mode', () => {
  it.for([
    ['first', '{"$price":1,"_id":"b"}', '$price'],
    ['after _id', '{"_id":"b","$price":1}', '$price'],
  ] as const)(
    'a record with one (%s) is RECORD_INVALID naming the field and its line, before anything is sent: a replacement cannot hold it',
    async ([, raw, field]) => {
      const { fake, loaded } = await loadOne(
        [
          { id: 'a', raw: '{"_id":"a"}', line: 1 },
          { id: 'b', raw, line: 2 },
        ],
        'upsert',
      );
      const e = loaded._unsafeUnwrapErr();
      expect(e.code).toBe('RECORD_INVALID');
      expect(e.context).toMatchObject({ table: 'alpha', line: 2, id: 'b', field });
      expect(e.message).toContain(field);
      expect(fake.calls.filter((c) => c.ns === 'alpha__incoming' && c.op === 'update')).toEqual([]);
    },
  );

  it('nested `$`-prefixed and dotted fields are stored as they are', async () => {
    const { fake, loaded } = await loadOne([{ id: 'a', raw: '{"_id":"a","n":{"$price":1,"a.b":2}}', line: 1 }], 'upsert');
    expect(loaded._unsafeUnwrap()).toBe(1);
    expect(Object.keys((fake.documents('alpha')?.[0]?.n ?? {}) as object)).toEqual(['$price', 'a.b']);
  });
});
