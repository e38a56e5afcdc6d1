/**
 * MongoStagingTarget driven through the recording driver fake, which
 * reproduces the documented server behaviours (7.0 `create`, UUID-keeping
 * renames, lost replies, lagging secondaries). These run in CI; the same
 * protocol runs against a real server in the gated adapter suite.
 */
import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { MongoStagingTarget, type MongoStagingTargetConfig } from '../../../src/mongodb/mongo-staging-target.js';
import type { StagingRow } from '../../../src/staging/staging-target.js';
import { FakeMongo, networkError, serverError, type FakeServerOptions } from '../../support/recording-mongo-fake.js';

async function* chunks(rows: readonly StagingRow[], size = 2): AsyncGenerator<StagingRow[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

function rows(ids: readonly string[], extra: Record<string, unknown> = {}): StagingRow[] {
  return ids.map((id, i) => ({ id, raw: JSON.stringify({ _id: id, ...extra }), line: i + 1 }));
}

function setup(server: FakeServerOptions = {}, config: Partial<MongoStagingTargetConfig> = {}) {
  const fake = new FakeMongo(server);
  const db = fake.db() as unknown as Db;
  const target = new MongoStagingTarget({ db, collections: ['alpha', 'beta'], retryDelayMs: 1, ...config });
  return { fake, db, target };
}

const both = { strategy: 'swap', dryRun: false, tables: ['alpha', 'beta'] } as const;

async function loadBoth(target: MongoStagingTarget, tag: string) {
  const s = (await target.begin(both))._unsafeUnwrap();
  (await s.load('alpha', chunks(rows(['a1', 'a2'], { tag }))))._unsafeUnwrap();
  (await s.load('beta', chunks(rows(['b1'], { tag }))))._unsafeUnwrap();
  return s;
}

function tags(fake: FakeMongo, name: string): unknown[] {
  return (fake.documents(name) ?? []).map((d) => d.tag);
}

describe.each(['6.0', '7.0'] as const)('the LOCKED guard on MongoDB %s (create of an existing collection %s)', (version) => {
  it('a leftover __incoming the library did not create is never reused, dropped, or renamed: LOCKED, reported as not ours', async () => {
    const { fake, db, target } = setup({ version });
    await db.collection('alpha__incoming').insertOne({ _id: 'user-data' } as never);
    const r = await target.begin(both);
    expect(r.isErr() && r.error.code).toBe('LOCKED');
    expect(r.isErr() && r.error.message).toContain('not created by this library');
    expect(fake.documents('alpha__incoming')).toEqual([{ _id: 'user-data' }]);
    expect(fake.collectionNames()).not.toContain('beta__incoming'); // the half-begun session cleaned up its own
    const left = (await target.dropLeftovers())._unsafeUnwrap();
    expect(left).toEqual({ dropped: [], completed: [], notOurs: ['alpha__incoming'] });
    expect(fake.documents('alpha__incoming')).toEqual([{ _id: 'user-data' }]);
  });

  it('a marker insert retried after a network error finds the marker another import took meanwhile: LOCKED, not taken as its own', async () => {
    const { fake, db, target } = setup({ version });
    // The first insert of alpha's marker never reaches the server; before the retry, another import takes the marker.
    fake.failOn({
      op: 'insert',
      ns: 'backfill_kit_staging',
      error: () => {
        void db.collection('backfill_kit_staging').insertOne({
          _id: 'alpha__incoming',
          kind: 'marker',
          live: 'alpha',
          session: 'another-import',
          uuid: null,
          startedAt: new Date(),
        } as never);
        return networkError();
      },
    });
    const r = await target.begin({ ...both, tables: ['alpha'] });
    expect(r.isErr() && r.error.code).toBe('LOCKED');
    expect(fake.collectionNames()).toEqual(['backfill_kit_staging']); // no alpha__incoming created
    expect(fake.documents('backfill_kit_staging')).toEqual([
      expect.objectContaining({ _id: 'alpha__incoming', session: 'another-import' }),
    ]);
  });

  it('a marker insert whose reply was lost finds its own marker on the retry and goes on', async () => {
    const { fake, target } = setup({ version });
    fake.failOn({ op: 'insert', ns: 'backfill_kit_staging', when: 'after', error: () => networkError() });
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    expect(fake.collectionNames()).toEqual(['alpha__incoming', 'backfill_kit_staging']);
    (await s.abort())._unsafeUnwrap();
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
  });

  it('a second import while one is loading is LOCKED by the marker, and its failure touches nothing of the first', async () => {
    const { fake, target } = setup({ version });
    const first = await loadBoth(target, 'first');
    const second = await target.begin(both);
    expect(second.isErr() && second.error.code).toBe('LOCKED');
    expect(tags(fake, 'alpha__incoming')).toEqual(['first', 'first']);
    (await first.commit())._unsafeUnwrap();
    expect(tags(fake, 'alpha')).toEqual(['first', 'first']);
    expect(tags(fake, 'beta')).toEqual(['first']);
  });
});

describe('collection names an import would mix up', () => {
  it('a state collection that is one of the collections is refused before anything is written: a swap would rename over the commit record, and a commit cut short could not be finished', async () => {
    const { fake, target } = setup({}, { stateCollection: 'alpha' });
    const r = await target.begin(both);
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain('stateCollection "alpha"');
    expect(fake.collectionNames()).toEqual([]);
  });

  it('a collection that is another’s staging collection is refused before anything is written: the live one would be taken for a leftover', async () => {
    const { fake, target } = setup({}, { collections: ['alpha', 'alpha__incoming'] });
    const r = await target.begin({ ...both, tables: ['alpha__incoming'] });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(fake.collectionNames()).toEqual([]);
  });
});

describe('a create applied but answered with an error', () => {
  it.for(['6.0', '7.0'] as const)(
    'on MongoDB %s, a write concern error on the staging collection’s create leaves nothing behind: the next import is not LOCKED by it',
    async (version) => {
      const { fake, target } = setup({ version });
      // The server created alpha__incoming, then could not get majority acknowledgement in time (not retryable: it was applied).
      fake.failOn({
        op: 'create',
        ns: 'alpha__incoming',
        when: 'after',
        error: () => serverError(64, 'waiting for replication timed out', { codeName: 'WriteConcernFailed' }),
      });
      const first = await target.begin(both);
      expect(first.isErr() && first.error.code).toBe('MONGO_ERROR');
      expect(fake.collectionNames()).toEqual(['backfill_kit_staging']);
      expect(fake.documents('backfill_kit_staging')).toEqual([]);
      const again = await target.begin(both);
      expect(again.isErr() && again.error.message).toBe(false);
      (await again._unsafeUnwrap().abort())._unsafeUnwrap();
      expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: [], completed: [], notOurs: [] });
    },
  );
});

describe('abort and crashed loads', () => {
  it('abort drops only the collection this session created (by UUID), never one put under its name since', async () => {
    const { fake, db, target } = setup();
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    await db.dropCollection('alpha__incoming');
    await db.collection('alpha__incoming').insertOne({ _id: 'someone else' } as never);
    (await s.abort())._unsafeUnwrap();
    expect(fake.documents('alpha__incoming')).toEqual([{ _id: 'someone else' }]);
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
  });

  it('a load killed mid-way leaves LOCKED; dropLeftovers rolls it back and the live collections stay as they were', async () => {
    const { fake, db, target } = setup();
    await db.collection('alpha').insertOne({ _id: 'old' } as never);
    await loadBoth(target, 'crashed'); // never committed nor aborted: the process died
    const again = await target.begin(both);
    expect(again.isErr() && again.error.code).toBe('LOCKED');
    expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({
      dropped: ['alpha__incoming', 'beta__incoming'],
      completed: [],
      notOurs: [],
    });
    expect(fake.documents('alpha')).toEqual([{ _id: 'old' }]);
    expect(fake.collectionNames()).toEqual(['alpha', 'backfill_kit_staging']);
    expect((await target.begin(both)).isOk()).toBe(true);
  });
});

describe('dropLeftovers with a state collection edited by hand', () => {
  it.for([
    ['without tables', { session: 'x' }],
    ['with tables that are not entries', { session: 'x', tables: [{ live: 'alpha' }] }],
    ['with copied as a string', { session: 'x', tables: [{ live: 'alpha', incoming: 'alpha__incoming', uuid: 'u' }], copied: 'alpha' }],
    ['without a session', { tables: [] }],
  ] as const)('a commit record %s is COMMIT_INCOMPLETE naming it, and nothing is dropped or renamed', async ([, record]) => {
    const { fake, db, target } = setup();
    await loadBoth(target, 'crashed'); // a crashed load: dropLeftovers would drop its collections
    await db.collection('backfill_kit_staging').insertOne({ _id: 'commit:x', kind: 'commit', startedAt: new Date(), ...record } as never);
    const before = fake.collectionNames();
    const r = await target.dropLeftovers();
    expect(r.isErr() && r.error.code).toBe('COMMIT_INCOMPLETE');
    expect(r.isErr() && r.error.message).toContain('"commit:x"');
    expect(fake.collectionNames()).toEqual(before);
  });
});

describe('commit: recorded, retried by UUID, recovered deterministically', () => {
  it('a network error after the server applied a rename is not a failure: the UUID shows it was done, and it is not sent twice', async () => {
    const { fake, target } = setup();
    const s = await loadBoth(target, 'new');
    fake.failOn({ op: 'renameCollection', ns: 'alpha__incoming', when: 'after', error: () => networkError() });
    (await s.commit())._unsafeUnwrap();
    expect(tags(fake, 'alpha')).toEqual(['new', 'new']);
    expect(tags(fake, 'beta')).toEqual(['new']);
    expect(fake.calls.filter((c) => c.op === 'renameCollection').map((c) => c.ns)).toEqual(['alpha__incoming', 'beta__incoming']);
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
  });

  it('a commit cut off after its commit point says what was replaced; abort keeps it; dropLeftovers rolls it forward', async () => {
    const { fake, db, target } = setup({}, { maxAttempts: 1 });
    await db.collection('alpha').insertOne({ _id: 'old', tag: 'old' } as never);
    await db.collection('beta').insertOne({ _id: 'old', tag: 'old' } as never);
    const s = await loadBoth(target, 'new');
    fake.failOn({ op: 'renameCollection', ns: 'beta__incoming', error: () => networkError() });
    const r = await s.commit();
    expect(r.isErr() && r.error.code).toBe('COMMIT_INCOMPLETE');
    expect(r.isErr() && r.error.context).toMatchObject({ renamed: ['alpha'], pending: ['beta'] });
    (await s.abort())._unsafeUnwrap(); // what the importer does after a failed commit
    expect(fake.collectionNames()).toContain('beta__incoming');
    expect(tags(fake, 'beta')).toEqual(['old']);
    expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: [], completed: ['beta'], notOurs: [] });
    expect(tags(fake, 'alpha')).toEqual(['new', 'new']);
    expect(tags(fake, 'beta')).toEqual(['new']);
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
  });

  it('commit() again after COMMIT_INCOMPLETE finishes the recorded commit without recording it twice', async () => {
    const { fake, target } = setup({}, { maxAttempts: 1 });
    const s = await loadBoth(target, 'new');
    fake.failOn({ op: 'renameCollection', ns: 'beta__incoming', error: () => networkError() });
    expect((await s.commit()).isErr()).toBe(true);
    (await s.commit())._unsafeUnwrap();
    expect(tags(fake, 'beta')).toEqual(['new']);
    expect(fake.calls.filter((c) => c.op === 'insert' && c.ns === 'backfill_kit_staging')).toHaveLength(3); // two markers, one commit record
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
  });

  it('a crash before the commit point (the index build fails) replaces nothing, and abort rolls back', async () => {
    const { fake, db, target } = setup({}, { maxAttempts: 1 });
    await db.collection('alpha').insertOne({ _id: 'old', tag: 'old' } as never);
    await db.collection('alpha').createIndexes([{ key: { k: 1 }, name: 'k_1' }]);
    const s = await loadBoth(target, 'new');
    fake.failOn({ op: 'createIndexes', ns: 'alpha__incoming', error: () => serverError(11000, 'E11000 duplicate key building index') });
    const r = await s.commit();
    expect(r.isErr() && r.error.code).toBe('DUPLICATE_ID');
    (await s.abort())._unsafeUnwrap();
    expect(tags(fake, 'alpha')).toEqual(['old']);
    expect(fake.collectionNames()).toEqual(['alpha', 'backfill_kit_staging']);
  });

  it('a commit record whose reply was lost still commits: abort does not roll back, dropLeftovers rolls forward', async () => {
    const { fake, target } = setup({}, { maxAttempts: 1 });
    const s = await loadBoth(target, 'new');
    fake.failOn({ op: 'insert', ns: 'backfill_kit_staging', when: 'after', error: () => networkError() });
    expect((await s.commit()).isErr()).toBe(true);
    (await s.abort())._unsafeUnwrap();
    expect(fake.collectionNames()).toContain('alpha__incoming');
    expect((await target.dropLeftovers())._unsafeUnwrap().completed).toEqual(['alpha', 'beta']);
    expect(tags(fake, 'beta')).toEqual(['new']);
  });

  it('a recorded commit whose incoming collection vanished is COMMIT_INCOMPLETE, and its record is kept', async () => {
    const { fake, db, target } = setup({}, { maxAttempts: 1 });
    const s = await loadBoth(target, 'new');
    fake.failOn({ op: 'renameCollection', ns: 'alpha__incoming', error: () => networkError() });
    expect((await s.commit()).isErr()).toBe(true);
    await db.dropCollection('alpha__incoming');
    const r = await target.dropLeftovers();
    expect(r.isErr() && r.error.code).toBe('COMMIT_INCOMPLETE');
    expect((fake.documents('backfill_kit_staging') ?? []).some((d) => d.kind === 'commit')).toBe(true);
  });
});

describe('concerns: DDL and writes carry the write concern with a timeout; deciding reads go to the primary', () => {
  it('every create, index build, insert, rename and drop is sent with { w: majority, wtimeout }', async () => {
    const { fake, db, target } = setup();
    await db.collection('alpha').createIndexes([{ key: { k: 1 }, name: 'k_1' }]);
    fake.calls.length = 0;
    const s = await loadBoth(target, 'x');
    (await s.commit())._unsafeUnwrap();
    const dd = (await target.begin({ ...both, dryRun: true }))._unsafeUnwrap();
    (await dd.abort())._unsafeUnwrap();
    const writes = fake.calls.filter((c) =>
      ['create', 'createIndexes', 'insert', 'update', 'delete', 'renameCollection', 'drop'].includes(c.op),
    );
    expect(new Set(writes.map((c) => c.op))).toEqual(
      new Set(['create', 'createIndexes', 'insert', 'update', 'delete', 'renameCollection', 'drop']),
    );
    // createIndexes goes through db.command, which sends its write concern as the server reads it.
    for (const c of writes)
      expect({ op: c.op, wc: c.options.writeConcern }).toEqual({
        op: c.op,
        wc: c.op === 'createIndexes' ? { w: 'majority', wtimeout: 60_000 } : { w: 'majority', wtimeoutMS: 60_000 },
      });
  });

  it('the index build before the commit point sends the write concern in the form the server reads, so it does not fail as an unknown field', async () => {
    const { db, fake, target } = setup({}, { writeConcern: { w: 'majority', journal: true, wtimeoutMS: 5_000 } });
    await db.collection('alpha').createIndexes([{ key: { k: 1 }, name: 'k_1' }]);
    fake.calls.length = 0;
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(['a', 'b']))))._unsafeUnwrap();
    (await s.commit())._unsafeUnwrap();
    const build = fake.calls.find((c) => c.op === 'createIndexes');
    expect(build?.options.writeConcern).toEqual({ w: 'majority', j: true, wtimeout: 5_000 });
    expect((await db.collection('alpha').listIndexes().toArray()).map((i) => i.name)).toContain('k_1');
  });

  it('a caller write concern without a timeout gets one', async () => {
    const { fake, target } = setup({}, { writeConcern: { w: 2 } });
    const s = await loadBoth(target, 'x');
    (await s.abort())._unsafeUnwrap();
    expect(fake.calls.find((c) => c.op === 'create')?.options.writeConcern).toEqual({ w: 2, wtimeoutMS: 60_000 });
  });

  it('a caller write concern that names no w gets majority, not the server default (w: 1 with an arbiter)', async () => {
    const { fake, target } = setup({}, { writeConcern: { j: true } });
    const s = await loadBoth(target, 'x');
    (await s.abort())._unsafeUnwrap();
    expect(fake.calls.find((c) => c.op === 'create')?.options.writeConcern).toEqual({ j: true, w: 'majority', wtimeoutMS: 60_000 });
  });

  it('count() before commit reads the primary with majority read concern, not a lagging secondary', async () => {
    const { fake, target } = setup();
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    fake.lagSecondary();
    (await s.load('alpha', chunks(rows(['a1', 'a2', 'a3']))))._unsafeUnwrap();
    expect((await s.count('alpha'))._unsafeUnwrap()).toBe(3);
    expect(fake.calls.filter((c) => c.op === 'count').map((c) => c.options)).toEqual([
      { readPreference: 'primary', readConcern: { level: 'majority' }, maxTimeMS: 60_000 },
    ]);
    expect((await target.counts())._unsafeUnwrap()).toEqual({ alpha: 0, beta: 0 });
  });
});

describe('retried inserts', () => {
  it('a retry that finds the lost attempt’s own documents succeeds, and the count is exact', async () => {
    const { fake, target } = setup();
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    fake.failOn({ op: 'insert', ns: 'alpha__incoming', when: 'after', error: () => networkError() });
    expect((await s.load('alpha', chunks(rows(['a1', 'a2', 'a3']), 3)))._unsafeUnwrap()).toBe(3);
    expect((await s.count('alpha'))._unsafeUnwrap()).toBe(3);
  });

  it.for([
    ['a double with an integer value and an int64', '{"_id":"a","n":7.0,"big":3000000000,"l":{"$numberLong":"5"}}'],
    ['a document whose _id is not its first field (the server stores _id first)', '{"v":1,"_id":"a"}'],
    [
      'a regular expression and a binary',
      '{"_id":"a","r":{"$regularExpression":{"pattern":"^a","options":"mi"}},"b":{"$binary":{"base64":"AAE=","subType":"00"}}}',
    ],
  ] as const)(
    'a retry that finds the lost attempt’s own document holding %s succeeds: it is compared as stored, not as the driver promotes it',
    async ([, raw]) => {
      const { fake, target } = setup();
      const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
      fake.failOn({ op: 'insert', ns: 'alpha__incoming', when: 'after', error: () => networkError() });
      const r = await s.load('alpha', chunks([{ id: 'a', raw, line: 1 }]));
      expect(r.isErr() && r.error.message).toBe(false);
      expect((await s.count('alpha'))._unsafeUnwrap()).toBe(1);
    },
  );

  it('a real duplicate hidden among a retry’s duplicate-key errors is DUPLICATE_ID naming it, not a silent success', async () => {
    const { fake, target } = setup({}, { insertionWorkers: 1, batchSize: 2 });
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    fake.failOn({ op: 'insert', ns: 'alpha__incoming', nth: 2, when: 'after', error: () => networkError() });
    const input = [
      { id: 'a', raw: '{"_id":"a","v":1}' },
      { id: 'x', raw: '{"_id":"x"}' },
      { id: 'a', raw: '{"_id":"a","v":2}' },
      { id: 'b', raw: '{"_id":"b"}' },
    ];
    const r = await s.load('alpha', chunks(input, 4));
    expect(r.isErr() && r.error.code).toBe('DUPLICATE_ID');
    expect(r.isErr() && r.error.context.id).toBe('a');
  });

  it('an id repeated within one insert batch is DUPLICATE_ID before anything is sent', async () => {
    const { fake, target } = setup({}, { insertionWorkers: 1 });
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    const r = await s.load('alpha', chunks([...rows(['a', 'b']), ...rows(['a'])], 3));
    expect(r.isErr() && r.error.code).toBe('DUPLICATE_ID');
    expect(fake.calls.filter((c) => c.op === 'insert' && c.ns === 'alpha__incoming')).toEqual([]);
  });
});

describe('the swapped-in collection keeps the live collection’s identity', () => {
  it('validator, validation level and collation are copied to the incoming collection', async () => {
    const { fake, db, target } = setup();
    const options = { validator: { $jsonSchema: { required: ['_id'] } }, validationLevel: 'strict', collation: { locale: 'fr' } };
    await db.createCollection('alpha', options);
    const s = await loadBoth(target, 'x');
    expect(fake.optionsOf('alpha__incoming')).toEqual(options);
    (await s.commit())._unsafeUnwrap();
    expect(fake.optionsOf('alpha')).toEqual(options);
  });

  it('a sharded live collection (behind a mongos) is refused before anything is created', async () => {
    const { fake, db, target } = setup({ topology: 'mongos' });
    await db.createCollection('beta');
    fake.shard('beta');
    const r = await target.begin(both);
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain('sharded');
    expect(fake.collectionNames()).toEqual(['beta']); // not even a lock marker was written
  });

  it('a view is refused', async () => {
    const { fake, target } = setup();
    fake.createView('alpha');
    const r = await target.begin(both);
    expect(r.isErr() && r.error.message).toContain('is a view');
  });
});

describe('sizes as the driver measures them', () => {
  it('upsert mode measures the whole { q, u, upsert } statement: a document that fits alone but not as a statement is rejected by line, the rest loads', async () => {
    const { target } = setup({ maxBsonObjectSize: 200 }, { mode: 'upsert' });
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    // {_id:'big', p:'…'} is 190 bytes as a document; the statement adds q, upsert and their headers.
    const big = { id: 'big', raw: JSON.stringify({ _id: 'big', p: 'x'.repeat(167) }), line: 2 };
    const rejected: string[] = [];
    const r = await s.load('alpha', chunks([...rows(['a']), big, ...rows(['c'])], 3), (row, e) => {
      rejected.push(`${row.line}:${e.code}`);
    });
    expect(r._unsafeUnwrap()).toBe(2);
    expect(rejected).toEqual(['2:DOCUMENT_TOO_LARGE']);
  });
});

describe('the truncate strategy: the live collection is emptied and refilled in place', () => {
  const truncate = { ...both, strategy: 'truncate' } as const;

  /** Live alpha and beta holding `old` documents, with an index and a validator of their own. */
  async function seeded(server: FakeServerOptions = {}, config: Partial<MongoStagingTargetConfig> = {}) {
    const env = setup(server, config);
    (await (await loadBoth(env.target, 'old')).commit())._unsafeUnwrap();
    await env.db.collection('alpha').createIndexes([{ key: { tag: 1 }, name: 'tag_1' }]);
    await env.db.command({ collMod: 'alpha', validator: { tag: { $type: 'string' } } });
    const uuids = { alpha: env.fake.uuidOf('alpha'), beta: env.fake.uuidOf('beta') };
    env.fake.calls.length = 0;
    return { ...env, uuids };
  }

  it('commit keeps each live collection (UUID, indexes, options), replaces its documents, and leaves no staging collection', async () => {
    const { fake, target, uuids } = await seeded();
    const s = (await target.begin(truncate))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(['n1', 'n2', 'n3'], { tag: 'new' }))))._unsafeUnwrap();
    (await s.load('beta', chunks(rows(['m1'], { tag: 'new' }))))._unsafeUnwrap();
    expect(tags(fake, 'alpha')).toEqual(['old', 'old']); // nothing visible before commit
    const info = (await s.commit())._unsafeUnwrap();
    expect(info.lockMode).toContain('$merge');
    expect(tags(fake, 'alpha')).toEqual(['new', 'new', 'new']);
    expect(tags(fake, 'beta')).toEqual(['new']);
    expect({ alpha: fake.uuidOf('alpha'), beta: fake.uuidOf('beta') }).toEqual(uuids);
    expect(fake.optionsOf('alpha')).toEqual({ validator: { tag: { $type: 'string' } } });
    expect(fake.calls.filter((c) => c.op === 'renameCollection')).toEqual([]);
    // The live indexes are only built on the incoming copy, to check the new documents against them before the commit point.
    expect(fake.calls.filter((c) => c.op === 'createIndexes').map((c) => c.ns)).toEqual(['alpha__incoming']);
    expect(fake.collectionNames()).toEqual(['alpha', 'backfill_kit_staging', 'beta']);
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
    // The live collection's own write path, under the target's write concern: empty it, merge the new documents in.
    const steps = fake.calls.filter((c) => (c.op === 'delete' || c.op === 'aggregate') && c.ns.startsWith('alpha'));
    expect(steps.map((c) => [c.op, c.ns, c.options.writeConcern])).toEqual([
      ['delete', 'alpha', { w: 'majority', wtimeoutMS: 60_000 }],
      ['aggregate', 'alpha__incoming', { w: 'majority', wtimeoutMS: 60_000 }],
    ]);
  });

  it('into a collection that does not exist yet, it renames (nothing to keep) and the result is the same', async () => {
    const { fake, target } = setup();
    const s = (await target.begin(truncate))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(['a1'], { tag: 'first' }))))._unsafeUnwrap();
    (await s.load('beta', chunks(rows(['b1'], { tag: 'first' }))))._unsafeUnwrap();
    (await s.commit())._unsafeUnwrap();
    expect(fake.calls.filter((c) => c.op === 'renameCollection').map((c) => c.ns)).toEqual(['alpha__incoming', 'beta__incoming']);
    expect(tags(fake, 'alpha')).toEqual(['first']);
  });

  it.each([
    ['emptying the live collection', { op: 'delete', ns: 'alpha' }],
    ['the $merge', { op: 'aggregate', ns: 'alpha__incoming' }],
    ['recording the copy', { op: 'update', ns: 'backfill_kit_staging' }],
    ['dropping the incoming collection', { op: 'drop', ns: 'alpha__incoming' }],
  ] as const)('a network error after the server applied %s is retried to the same end state', async (_step, where) => {
    const retries: unknown[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (_m: string, fields?: unknown) => void retries.push(fields) };
    const { fake, target, uuids } = await seeded({}, { logger });
    const t = (await target.begin(truncate))._unsafeUnwrap();
    (await t.load('alpha', chunks(rows(['n1', 'n2', 'n3'], { tag: 'new' }))))._unsafeUnwrap();
    (await t.load('beta', chunks(rows(['m1'], { tag: 'new' }))))._unsafeUnwrap();
    fake.failOn({ ...where, when: 'after', error: () => networkError() });
    (await t.commit())._unsafeUnwrap();
    expect(retries).toEqual([expect.objectContaining({ what: 'put alpha__incoming in place', attempt: 1 })]);
    expect(tags(fake, 'alpha')).toEqual(['new', 'new', 'new']);
    expect(fake.uuidOf('alpha')).toBe(uuids.alpha);
    expect(fake.collectionNames()).toEqual(['alpha', 'backfill_kit_staging', 'beta']);
  });

  it.each([
    ['emptying the live collection', { op: 'delete', ns: 'alpha' }, 'before'],
    ['the $merge', { op: 'aggregate', ns: 'alpha__incoming' }, 'after'],
    ['recording the copy', { op: 'update', ns: 'backfill_kit_staging' }, 'after'],
  ] as const)(
    'a commit cut off at %s is COMMIT_INCOMPLETE; abort keeps it; dropLeftovers rolls it forward in place',
    async (_step, where, when) => {
      const { fake, target, uuids } = await seeded({}, { maxAttempts: 1 });
      const t = (await target.begin(truncate))._unsafeUnwrap();
      (await t.load('alpha', chunks(rows(['n1', 'n2', 'n3'], { tag: 'new' }))))._unsafeUnwrap();
      (await t.load('beta', chunks(rows(['m1'], { tag: 'new' }))))._unsafeUnwrap();
      fake.failOn({ ...where, when, error: () => networkError() });
      const r = await t.commit();
      expect(r.isErr() && r.error.code).toBe('COMMIT_INCOMPLETE');
      expect(r.isErr() && r.error.context.pending).toEqual(['alpha', 'beta']);
      (await t.abort())._unsafeUnwrap();
      expect(fake.collectionNames()).toContain('alpha__incoming');
      expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: [], completed: ['alpha', 'beta'], notOurs: [] });
      expect(tags(fake, 'alpha')).toEqual(['new', 'new', 'new']);
      expect(tags(fake, 'beta')).toEqual(['new']);
      expect({ alpha: fake.uuidOf('alpha'), beta: fake.uuidOf('beta') }).toEqual(uuids);
      expect(fake.collectionNames()).toEqual(['alpha', 'backfill_kit_staging', 'beta']);
      expect(fake.documents('backfill_kit_staging')).toEqual([]);
    },
  );

  it('new documents that break a unique index of the live collection fail the commit before its commit point: nothing live changes', async () => {
    const { fake, db, target } = await seeded();
    await db.command({ createIndexes: 'beta', indexes: [{ key: { k: 1 }, name: 'k_unique', unique: true }] });
    const t = (await target.begin(truncate))._unsafeUnwrap();
    (await t.load('alpha', chunks(rows(['n1'], { tag: 'new' }))))._unsafeUnwrap();
    (await t.load('beta', chunks(rows(['m1', 'm2'], { tag: 'new', k: 'same' }))))._unsafeUnwrap();
    const r = await t.commit();
    // Not COMMIT_INCOMPLETE, and not DUPLICATE_ID: m1 and m2 are two ids; they share the unique index's key.
    expect(r.isErr() && r.error.code).toBe('MONGO_ERROR');
    expect(r.isErr() && r.error.context).toMatchObject({ key: '{"k":"same"}' });
    expect(r.isErr() && r.error.message).toContain('unique index other than _id');
    expect(fake.calls.filter((c) => c.op === 'delete' && (c.ns === 'alpha' || c.ns === 'beta'))).toEqual([]);
    (await t.abort())._unsafeUnwrap();
    expect(tags(fake, 'alpha')).toEqual(['old', 'old']);
    expect(tags(fake, 'beta')).toEqual(['old']);
    expect(fake.collectionNames()).toEqual(['alpha', 'backfill_kit_staging', 'beta']);
  });

  it('commit() again after COMMIT_INCOMPLETE finishes a truncate commit: what was copied stays done, the rest is copied', async () => {
    const { fake, target, uuids } = await seeded({}, { maxAttempts: 1 });
    const t = (await target.begin(truncate))._unsafeUnwrap();
    (await t.load('alpha', chunks(rows(['n1', 'n2'], { tag: 'new' }))))._unsafeUnwrap();
    (await t.load('beta', chunks(rows(['m1'], { tag: 'new' }))))._unsafeUnwrap();
    fake.failOn({ op: 'aggregate', ns: 'beta__incoming', error: () => networkError() });
    const r = await t.commit();
    expect(r.isErr() && r.error.context).toMatchObject({ renamed: ['alpha'], pending: ['beta'] });
    expect(fake.collectionNames()).not.toContain('alpha__incoming');
    fake.calls.length = 0;
    (await t.commit())._unsafeUnwrap();
    expect(fake.calls.filter((c) => c.op === 'aggregate').map((c) => c.ns)).toEqual(['beta__incoming']);
    expect(tags(fake, 'alpha')).toEqual(['new', 'new']);
    expect(tags(fake, 'beta')).toEqual(['new']);
    expect({ alpha: fake.uuidOf('alpha'), beta: fake.uuidOf('beta') }).toEqual(uuids);
    expect(fake.collectionNames()).toEqual(['alpha', 'backfill_kit_staging', 'beta']);
  });

  it('dropLeftovers after a truncate commit cut between collections copies only what the record does not list as copied', async () => {
    const { fake, target, uuids } = await seeded({}, { maxAttempts: 1 });
    const t = (await target.begin(truncate))._unsafeUnwrap();
    (await t.load('alpha', chunks(rows(['n1', 'n2'], { tag: 'new' }))))._unsafeUnwrap();
    (await t.load('beta', chunks(rows(['m1'], { tag: 'new' }))))._unsafeUnwrap();
    fake.failOn({ op: 'aggregate', ns: 'beta__incoming', error: () => networkError() });
    expect((await t.commit()).isErr()).toBe(true);
    expect(fake.documents('backfill_kit_staging')?.find((d) => d.kind === 'commit')?.copied).toEqual(['alpha']);
    fake.calls.length = 0;
    expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: [], completed: ['beta'], notOurs: [] });
    expect(fake.calls.filter((c) => c.op === 'delete' && c.ns === 'alpha')).toEqual([]);
    expect(tags(fake, 'alpha')).toEqual(['new', 'new']);
    expect(tags(fake, 'beta')).toEqual(['new']);
    expect({ alpha: fake.uuidOf('alpha'), beta: fake.uuidOf('beta') }).toEqual(uuids);
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
  });

  it('a recorded copy whose incoming collection vanished before it was copied is COMMIT_INCOMPLETE, and its record is kept', async () => {
    const { fake, db, target } = await seeded({}, { maxAttempts: 1 });
    const t = (await target.begin(truncate))._unsafeUnwrap();
    (await t.load('alpha', chunks(rows(['n1'], { tag: 'new' }))))._unsafeUnwrap();
    (await t.load('beta', chunks(rows(['m1'], { tag: 'new' }))))._unsafeUnwrap();
    fake.failOn({ op: 'delete', ns: 'alpha', error: () => networkError() });
    expect((await t.commit()).isErr()).toBe(true);
    await db.dropCollection('alpha__incoming');
    const r = await target.dropLeftovers();
    expect(r.isErr() && r.error.code).toBe('COMMIT_INCOMPLETE');
    expect(r.isErr() && r.error.context.lost).toEqual(['alpha']);
    expect((fake.documents('backfill_kit_staging') ?? []).some((d) => d.kind === 'commit')).toBe(true);
  });
});

describe('truncate()', () => {
  it('empties every collection through the same locked swap, keeping indexes and options', async () => {
    const { fake, db, target } = setup();
    await db.createCollection('alpha', { collation: { locale: 'fr' } });
    await db.collection('alpha').insertOne({ _id: 'old' } as never);
    await db.collection('alpha').createIndexes([{ key: { k: 1 }, name: 'k_1' }]);
    (await target.truncate())._unsafeUnwrap();
    expect(fake.documents('alpha')).toEqual([]);
    expect(fake.documents('beta')).toEqual([]);
    expect(fake.optionsOf('alpha')).toEqual({ collation: { locale: 'fr' } });
    expect(await db.collection('alpha').listIndexes().toArray()).toContainEqual(expect.objectContaining({ name: 'k_1' }));
    expect(fake.documents('backfill_kit_staging')).toEqual([]);
  });
});

describe('truncate() over a leftover', () => {
  it('a leftover __incoming is never renamed over the live collection: LOCKED, both untouched', async () => {
    const { fake, db, target } = setup({ version: '7.0' });
    await db.collection('alpha').insertOne({ _id: 'live' } as never);
    await db.collection('alpha__incoming').insertOne({ _id: 'leftover' } as never);
    const r = await target.truncate();
    expect(r.isErr() && r.error.code).toBe('LOCKED');
    expect(fake.documents('alpha')).toEqual([{ _id: 'live' }]);
    expect(fake.documents('alpha__incoming')).toEqual([{ _id: 'leftover' }]);
  });
});

describe('defaults, as sent', () => {
  it('a default target sends unordered inserts of at most 1000 documents (mongoimport --batchSize) with majority write concern', async () => {
    const { fake, target } = setup();
    const s = (await target.begin({ ...both, tables: ['alpha'] }))._unsafeUnwrap();
    const ids = Array.from({ length: 2500 }, (_, i) => `d${i}`);
    expect((await s.load('alpha', chunks(rows(ids), 700)))._unsafeUnwrap()).toBe(2500);
    const inserts = fake.calls.filter((c) => c.op === 'insert' && c.ns === 'alpha__incoming');
    expect(Math.max(...inserts.map((c) => (c.args as unknown[]).length))).toBeLessThanOrEqual(1000);
    expect(inserts.reduce((n, c) => n + (c.args as unknown[]).length, 0)).toBe(2500);
    for (const c of inserts) expect(c.options).toEqual({ ordered: false, writeConcern: { w: 'majority', wtimeoutMS: 60_000 } });
  });
});
