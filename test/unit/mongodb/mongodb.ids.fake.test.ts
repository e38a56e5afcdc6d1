/**
 * Which records share an `_id`, decided as MongoDB's unique `_id` index
 * decides it (numbers by value across int32, int64 and double; values of
 * different types never equal), whatever the batch boundaries: the same
 * input loads or fails the same way with one document per batch or all in
 * one.
 */
import { BSON } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { mongoIdKey } from '../../../src/mongodb/extended-json-id.js';
import type { StagingRow } from '../../../src/staging/staging-target.js';
import { fakeStagingTarget } from '../../support/fake-mongo-staging.js';
import { type FakeMongo, networkError } from '../../support/recording-mongo-fake.js';

const HEX = '65a1f0c2e4b0a1b2c3d4e5f6';

/** Rows as the importer hands them: each record's id as `extractRecordId` reads it. */
function rowsOf(records: readonly [id: string, raw: string][]): StagingRow[] {
  return records.map(([id, raw], i) => ({ id, raw, line: i + 1 }));
}

async function load(records: readonly [string, string][], batchSize: number, fail?: (fake: FakeMongo) => void) {
  const { fake, target } = fakeStagingTarget(batchSize);
  const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
  fail?.(fake);
  const rows = rowsOf(records);
  async function* batches() {
    yield rows;
  }
  const loaded = await s.load('alpha', batches());
  return { fake, s, loaded };
}

const distinct: readonly (readonly [string, readonly [string, string][]])[] = [
  [
    'the number 1 and the string "1"',
    [
      ['1', '{"_id":1,"v":"number"}'],
      ['1', '{"_id":"1","v":"string"}'],
    ],
  ],
  [
    'an ObjectId and the string of its hex',
    [
      [HEX, `{"_id":{"$oid":"${HEX}"},"v":"oid"}`],
      [HEX, `{"_id":"${HEX}","v":"string"}`],
    ],
  ],
  [
    'the number 2.5 and the string "2.5"',
    [
      ['2.5', '{"_id":2.5}'],
      ['2.5', '{"_id":"2.5"}'],
    ],
  ],
  [
    'ids differing only in Unicode normalization (NFC é, NFD e + ◌́) or in case',
    [
      ['caf\u00e9', '{"_id":"caf\u00e9"}'],
      ['cafe\u0301', '{"_id":"cafe\u0301"}'],
      ['CAF\u00c9', '{"_id":"CAF\u00c9"}'],
    ],
  ],
];

const same: readonly (readonly [string, readonly [string, string][]])[] = [
  [
    'the int32 1 and the double 1.0',
    [
      ['1', '{"_id":1}'],
      ['1', '{"_id":1.0}'],
    ],
  ],
  [
    '0 and -0.0',
    [
      ['0', '{"_id":0}'],
      ['0', '{"_id":-0.0}'],
    ],
  ],
  [
    'the int64 3000000000 and the double 3e9',
    [
      ['3000000000', '{"_id":3000000000}'],
      ['3000000000', '{"_id":3e9}'],
    ],
  ],
];

describe('ids MongoDB keeps apart load as two documents, in one batch or in two', () => {
  it.for(distinct.flatMap(([what, records]) => [1, 1000].map((size) => [what, size, records] as const)))(
    '%s, batchSize %s',
    async ([, size, records]) => {
      const { fake, s, loaded } = await load(records, size);
      expect(loaded._unsafeUnwrap()).toBe(records.length);
      expect((await s.count('alpha'))._unsafeUnwrap()).toBe(records.length);
      (await s.commit())._unsafeUnwrap();
      expect(fake.documents('alpha')).toHaveLength(records.length);
    },
  );

  it('a retried insert of such a batch, whose first reply was lost, finds each document as it sent it and succeeds', async () => {
    const [, records] = distinct[0]!;
    const { s, loaded } = await load(records, 1000, (fake) =>
      fake.failOn({ op: 'insert', ns: 'alpha__incoming', when: 'after', error: () => networkError() }),
    );
    expect(loaded.isErr() && loaded.error.message).toBe(false);
    expect(loaded._unsafeUnwrap()).toBe(2);
    expect((await s.count('alpha'))._unsafeUnwrap()).toBe(2);
  });
});

describe('ids MongoDB finds equal are DUPLICATE_ID, in one batch or in two', () => {
  it.for(same.flatMap(([what, records]) => [1, 1000].map((size) => [what, size, records] as const)))(
    '%s, batchSize %s',
    async ([, size, records]) => {
      const { fake, s, loaded } = await load(records, size);
      expect(loaded._unsafeUnwrapErr().code).toBe('DUPLICATE_ID');
      expect(loaded._unsafeUnwrapErr().context.id).toBe(records[0]![0]);
      (await s.abort())._unsafeUnwrap();
      expect(fake.collectionNames()).toEqual(['backfill_kit_staging']);
    },
  );
});

describe('mongoIdKey', () => {
  it('is equal exactly where the _id index finds two ids equal', () => {
    const one = [1, new BSON.Int32(1), new BSON.Double(1), BSON.Long.fromString('1')].map(mongoIdKey);
    expect(new Set(one).size).toBe(1);
    expect(mongoIdKey(-0)).toBe(mongoIdKey(0));
    expect(mongoIdKey(BSON.Long.fromString('9007199254740993'))).not.toBe(mongoIdKey(9007199254740992));
    expect(mongoIdKey(BSON.Long.fromString('9007199254740992'))).toBe(mongoIdKey(new BSON.Double(9007199254740992)));
    const apart = ['1', 1, new BSON.ObjectId(HEX), HEX, 1.5, '1.5'].map(mongoIdKey);
    expect(new Set(apart).size).toBe(apart.length);
  });
});
