/**
 * The statement adapters refuse a collection whose default collation is not
 * the simple (binary) one, over the recording driver fake (which keeps a
 * `create`'s collation and reports it in `listCollections` as the server
 * does). Under such a collation every query, sort and index, `_id`'s
 * included, compares strings by the locale's rules: with
 * `{ locale: 'en', strength: 2 }` digests or run ids that differ only in
 * case are equal, so keyset pages skip documents and lookups find another
 * document. Each adapter asks once, before its first read or write.
 */
import type { Db, MongoClient } from 'mongodb';
import type { ResultAsync } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import type { BackfillError } from '../../../src/errors.js';
import { nonSimpleCollation } from '../../../src/mongodb/collections.js';
import { MongoCheckpointStore } from '../../../src/mongodb/mongo-checkpoint-store.js';
import { MongoRawDocumentSource } from '../../../src/mongodb/mongo-raw-document-source.js';
import { MongoStatementSink } from '../../../src/mongodb/mongo-statement-sink.js';
import { batch, claim, digest, doc } from '../../contract/statement-fixtures.js';
import { FakeMongo } from '../../support/recording-mongo-fake.js';

const CASE_INSENSITIVE = { locale: 'en', strength: 2 };

type Call = (fake: FakeMongo) => ResultAsync<unknown, BackfillError>;

const db = (fake: FakeMongo): Db => fake.db() as unknown as Db;
const source = (fake: FakeMongo) => new MongoRawDocumentSource({ db: db(fake), retryDelayMs: 1 });
const sink = (fake: FakeMongo) => new MongoStatementSink({ db: db(fake), client: fake.client as unknown as MongoClient, retryDelayMs: 1 });
const store = (fake: FakeMongo) => new MongoCheckpointStore({ db: db(fake), retryDelayMs: 1 });

const d1 = digest(1);
/** Each adapter's first calls, and the collections it keys on strings. */
const ADAPTERS: readonly (readonly [string, readonly string[], readonly (readonly [string, Call])[]])[] = [
  [
    'MongoRawDocumentSource',
    ['raw_documents'],
    [
      ['prepare', (f) => source(f).prepare()],
      ['append', (f) => source(f).append([{ digest: d1, retrievedAt: new Date(0), content: '{}' }])],
      ['readPage', (f) => source(f).readPage({ limit: 10 })],
      ['readPage after a cursor', (f) => source(f).readPage({ limit: 10, after: { retrievedAt: new Date(0).toISOString(), digest: d1 } })],
      ['count', (f) => source(f).count({})],
    ],
  ],
  [
    'MongoStatementSink',
    ['statements', 'statement_documents', 'statement_backfill_checkpoints', 'statement_backfill_failures'],
    [
      ['prepare', (f) => sink(f).prepare()],
      ['existingDigests', (f) => sink(f).existingDigests([d1])],
      ['commitBatch', (f) => sink(f).commitBatch(batch('r', [doc(d1, [claim(d1, 'CVE-2025-0001', 'pkg:npm/a')])]))],
      ['loadCheckpoint', (f) => sink(f).loadCheckpoint('r')],
    ],
  ],
  [
    'MongoCheckpointStore',
    ['statement_backfill_checkpoints', 'statement_backfill_failures'],
    [
      ['prepare', (f) => store(f).prepare()],
      ['loadCheckpoint', (f) => store(f).loadCheckpoint('r')],
    ],
  ],
];

const CASES = ADAPTERS.flatMap(([adapter, collections, calls]) =>
  collections.flatMap((collection) => calls.map(([method, call]) => ({ adapter, collection, method, call }))),
);

/** Operations that read or write a collection's documents or indexes (everything but listCollections and hello). */
const DATA_OPS = new Set(['create', 'createIndexes', 'insert', 'update', 'delete', 'find', 'count', 'aggregate', 'withTransaction']);

describe('a collection whose default collation is case-insensitive', () => {
  it.for(CASES)(
    'is refused by $adapter ($method) when it is $collection, before anything is read or written',
    async ({ collection, call }) => {
      const fake = new FakeMongo();
      await fake.db().createCollection(collection, { collation: CASE_INSENSITIVE });
      const before = fake.calls.length;
      const e = (await call(fake))._unsafeUnwrapErr();
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(new RegExp(`^${collection}: the collection has the default collation \\{"locale":"en","strength":2\\}`));
      expect(e.message).toContain("collation { locale: 'simple' }");
      expect(e.context).toMatchObject({ table: collection, collation: CASE_INSENSITIVE });
      const after = fake.calls.slice(before);
      expect(after.filter((c) => DATA_OPS.has(c.op))).toEqual([]);
      expect(after.filter((c) => c.op === 'listCollections').map((c) => c.options)).toEqual([{ nameOnly: false }]);
      expect(fake.documents(collection)).toEqual([]);
    },
  );

  it.for([
    ['MongoRawDocumentSource', 'collection', 'raw_documents', (f: FakeMongo) => source(f).readPage({ limit: 1 })],
    ['MongoStatementSink', 'documentsCollection', 'statement_documents', (f: FakeMongo) => sink(f).existingDigests([d1])],
    ['MongoStatementSink', 'statementsCollection', 'statements', (f: FakeMongo) => sink(f).prepare()],
    ['MongoCheckpointStore', 'checkpointsCollection', 'statement_backfill_checkpoints', (f: FakeMongo) => store(f).loadCheckpoint('r')],
    ['MongoCheckpointStore', 'failuresCollection', 'statement_backfill_failures', (f: FakeMongo) => store(f).prepare()],
  ] as const)('%s names the option %s for %s', async ([, option, collection, call]) => {
    const fake = new FakeMongo();
    await fake.db().createCollection(collection, { collation: { locale: 'fr', strength: 1 } });
    const e = (await call(fake))._unsafeUnwrapErr();
    expect(e.message).toContain(`name that one in ${option}.`);
  });

  it('is refused under another name given in the config', async () => {
    const fake = new FakeMongo();
    await fake.db().createCollection('vex_docs', { collation: CASE_INSENSITIVE });
    const s = new MongoStatementSink({ db: db(fake), documentsCollection: 'vex_docs' });
    expect((await s.prepare())._unsafeUnwrapErr().context).toMatchObject({ table: 'vex_docs' });
  });

  it('a case-sensitive locale (strength 3, the default) is refused too: only the simple collation compares bytes', async () => {
    const fake = new FakeMongo();
    await fake.db().createCollection('raw_documents', { collation: { locale: 'en', numericOrdering: true } });
    expect((await source(fake).readPage({ limit: 1 }))._unsafeUnwrapErr().message).toContain('{"locale":"en","numericOrdering":true}');
  });

  it('is asked about again after a refusal, so a collection copied into place is accepted', async () => {
    const fake = new FakeMongo();
    await fake.db().createCollection('raw_documents', { collation: CASE_INSENSITIVE });
    const s = source(fake);
    expect((await s.readPage({ limit: 1 })).isErr()).toBe(true);
    await fake.db().dropCollection('raw_documents');
    await fake.db().createCollection('raw_documents', { collation: { locale: 'simple' } });
    expect((await s.readPage({ limit: 1 }))._unsafeUnwrap()).toEqual([]);
  });
});

describe('collections that compare strings by their bytes', () => {
  it.for([
    ['no collation', {}],
    ["collation { locale: 'simple' }", { collation: { locale: 'simple' } }],
  ] as const)('are accepted by every adapter: %s', async ([, options]) => {
    const fake = new FakeMongo();
    for (const [, collections] of ADAPTERS) for (const c of collections) await fake.db().createCollection(c, options);
    for (const { call } of CASES) (await call(fake))._unsafeUnwrap();
  });

  it('are accepted when missing, and the adapters create theirs without a collation', async () => {
    const fake = new FakeMongo();
    (await source(fake).prepare())._unsafeUnwrap();
    (await sink(fake).prepare())._unsafeUnwrap();
    (await store(fake).prepare())._unsafeUnwrap();
    const names = ADAPTERS.flatMap(([, collections]) => collections);
    expect(fake.collectionNames()).toEqual([...new Set(names)].sort());
    for (const name of names) expect(fake.optionsOf(name)?.collation).toBeUndefined();
  });

  it('are checked once per adapter: one listCollections, however many calls follow', async () => {
    const fake = new FakeMongo();
    const s = sink(fake);
    (await s.prepare())._unsafeUnwrap();
    (await s.existingDigests([d1]))._unsafeUnwrap();
    (await s.commitBatch(batch('r', [doc(d1, [claim(d1, 'CVE-2025-0001', 'pkg:npm/a')])])))._unsafeUnwrap();
    (await s.loadCheckpoint('r'))._unsafeUnwrap();
    const r = source(fake);
    for (let i = 0; i < 3; i++) (await r.readPage({ limit: 1 }))._unsafeUnwrap();
    expect(fake.calls.filter((c) => c.op === 'listCollections')).toHaveLength(2);
  });
});

describe('nonSimpleCollation', () => {
  it.for([
    [{ name: 'a', type: 'collection', options: {} }, undefined],
    [{ name: 'a', type: 'collection' }, undefined],
    [{ name: 'a', type: 'collection', options: { collation: { locale: 'simple' } } }, undefined],
    [{ name: 'a', type: 'collection', options: { collation: CASE_INSENSITIVE } }, CASE_INSENSITIVE],
    [{ name: 'a', type: 'view', options: { viewOn: 'b', collation: { locale: 'de' } } }, { locale: 'de' }],
  ] as const)('%o → %o', ([info, expected]) => {
    expect(nonSimpleCollation(info)).toEqual(expected);
  });
});

describe('the fake reports a collection’s collation as the server does', () => {
  it('in options and on the _id index, and only name and type with nameOnly', async () => {
    const fake = new FakeMongo();
    await fake.db().createCollection('c', { collation: CASE_INSENSITIVE });
    const [info] = await fake.db().listCollections({ name: 'c' }, { nameOnly: false }).toArray();
    expect(info).toMatchObject({
      name: 'c',
      type: 'collection',
      options: { collation: CASE_INSENSITIVE },
      info: { readOnly: false },
      idIndex: { key: { _id: 1 }, name: '_id_', collation: CASE_INSENSITIVE },
    });
    expect(await fake.db().listCollections({ name: 'c' }, { nameOnly: true }).toArray()).toEqual([{ name: 'c', type: 'collection' }]);
  });
});
