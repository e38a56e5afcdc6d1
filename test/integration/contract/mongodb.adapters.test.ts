/**
 * What only a real MongoDB server can show about the adapters: the wire
 * commands (unordered, write concern majority with wtimeout, DDL included,
 * read preference and read concern of deciding reads, batch bounds,
 * workers), BSON types on disk, the 16 MiB limit at the driver's exact
 * boundary, the `__incoming` lock, commit and recovery protocol (including
 * on 7.0+, where `create` of an existing collection succeeds, and with
 * crashes simulated at the commit point and after the first rename), the
 * truncate strategy's in-place copy (UUID kept, `deleteMany` then `$merge`,
 * a crash after the delete rolled forward), transactions versus the
 * idempotent sequence, and how the server reports a collection's default
 * collation (refused unless simple). Runs only with
 * BACKFILL_KIT_MONGODB_URL; the transaction cases need a replica set, the
 * fault-injection cases a server started with test commands enabled
 * (`failCommand`), and each says why when it skips.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BSON, MongoClient, ObjectId, type CommandStartedEvent, type Db } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MongoStagingTarget } from '../../../src/mongodb/mongo-staging-target.js';
import { MongoStatementSink } from '../../../src/mongodb/mongo-statement-sink.js';
import { MongoRawDocumentSource } from '../../../src/mongodb/mongo-raw-document-source.js';
import { nonSimpleCollation } from '../../../src/mongodb/collections.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { StagingImporter } from '../../../src/staging/staging-importer.js';
import { writeDataset } from '../../../src/dataset/write-dataset.js';
import type { StagingRow } from '../../../src/staging/staging-target.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { batch, claim, digest, doc } from '../../contract/statement-fixtures.js';
import { mongoSuiteTitle, mongoUrl, uniqueName } from '../../contract/support.js';
import { tempDir } from '../../support/tmp.js';
import { handTarball } from '../staging/fixtures.js';

async function* chunks(rows: readonly StagingRow[], size: number): AsyncGenerator<StagingRow[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

function rows(n: number, pad = 0): StagingRow[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `r-${String(i).padStart(5, '0')}`;
    return { id, raw: JSON.stringify({ _id: id, i, pad: 'p'.repeat(pad) }) };
  });
}

describe.skipIf(mongoUrl === undefined)(mongoSuiteTitle('MongoDB adapters on a real server'), () => {
  let client: MongoClient;
  let replicaSet = false;
  const commands: CommandStartedEvent[] = [];
  const running = new Set<number>();
  let maxRunning = 0;
  const dbs: Db[] = [];
  const dir = tempDir('bk-mongo-');

  beforeAll(async () => {
    client = await MongoClient.connect(mongoUrl!, { monitorCommands: true });
    client.on('commandStarted', (e) => {
      commands.push(e);
      if (e.commandName === 'insert') {
        running.add(e.requestId);
        maxRunning = Math.max(maxRunning, running.size);
      }
    });
    client.on('commandSucceeded', (e) => running.delete(e.requestId));
    client.on('commandFailed', (e) => running.delete(e.requestId));
    const hello = await client.db('admin').command({ hello: 1 });
    replicaSet = typeof hello.setName === 'string';
  });
  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.dropDatabase();
    commands.length = 0;
    maxRunning = 0;
  });
  afterAll(async () => {
    await client?.close();
  });

  function freshDb(): Db {
    const db = client.db(uniqueName('bk_adapt'));
    dbs.push(db);
    return db;
  }

  it('loads with unordered inserts under majority write concern, bounded by count and by bytes, at most `insertionWorkers` in flight', async () => {
    const db = freshDb();
    const target = new MongoStagingTarget({
      db,
      collections: ['alpha'],
      batchSize: 50,
      batchBytes: 20_000,
      insertionWorkers: 3,
    });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    // ~540 BSON bytes a document: the byte bound (20 kB ≈ 37 documents) binds before the count bound (50).
    expect((await s.load('alpha', chunks(rows(1000, 500), 64)))._unsafeUnwrap()).toBe(1000);
    (await s.commit())._unsafeUnwrap();
    const inserts = commands.filter((c) => c.commandName === 'insert' && c.command.insert === 'alpha__incoming');
    expect(inserts.length).toBeGreaterThan(1000 / 50);
    let total = 0;
    for (const c of inserts) {
      const docs = c.command.documents as BSON.Document[];
      total += docs.length;
      expect(c.command.ordered).toBe(false);
      expect(c.command.writeConcern).toMatchObject({ w: 'majority', wtimeout: 60_000 });
      expect(docs.length).toBeLessThanOrEqual(50);
      expect(docs.reduce((n, d) => n + BSON.calculateObjectSize(d), 0)).toBeLessThanOrEqual(20_000);
    }
    expect(total).toBe(1000);
    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(await db.collection('alpha').countDocuments()).toBe(1000);
    const renames = commands.filter((c) => c.commandName === 'renameCollection');
    expect(renames.map((c) => [c.command.renameCollection, c.command.to, c.command.dropTarget])).toEqual([
      [`${db.databaseName}.alpha__incoming`, `${db.databaseName}.alpha`, true],
    ]);
  });

  it('upsert mode keeps every worker and unordered writes, and the last line of a repeated id wins', async () => {
    const db = freshDb();
    const target = new MongoStagingTarget({
      db,
      collections: ['alpha'],
      mode: 'upsert',
      batchSize: 20,
      insertionWorkers: 4,
    });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    // 600 lines over 150 ids, each id 4 times; version v counts up per id.
    const input: StagingRow[] = Array.from({ length: 600 }, (_, i) => {
      const id = `id-${i % 150}`;
      return { id, raw: JSON.stringify({ _id: id, v: Math.floor(i / 150) }) };
    });
    expect((await s.load('alpha', chunks(input, 50)))._unsafeUnwrap()).toBe(600);
    expect((await s.count('alpha'))._unsafeUnwrap()).toBe(150);
    (await s.commit())._unsafeUnwrap();
    const versions = new Set((await db.collection('alpha').find().toArray()).map((d) => d.v as number));
    expect([...versions]).toEqual([3]);
    const updates = commands.filter((c) => c.commandName === 'update' && c.command.update === 'alpha__incoming');
    expect(updates.length).toBeGreaterThan(1);
    for (const c of updates) {
      expect(c.command.ordered).toBe(false);
      expect(c.command.writeConcern).toMatchObject({ w: 'majority' });
    }
  });

  it('stores {"$oid"} ids as ObjectIds and recreates the live collection’s indexes before the rename', async () => {
    const db = freshDb();
    await db.collection('alpha').createIndex({ name: 1 }, { name: 'by_name', unique: true });
    const hex = '65a1f0c2e4b0a1b2c3d4e5f6';
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (
      await s.load(
        'alpha',
        chunks([{ id: hex, raw: JSON.stringify({ _id: { $oid: hex }, name: 'x', at: { $date: '2025-12-07T14:24:45Z' } }) }], 1),
      )
    )._unsafeUnwrap();
    (await s.commit())._unsafeUnwrap();
    const found = await db.collection('alpha').findOne({ _id: new ObjectId(hex) });
    expect(found?.name).toBe('x');
    expect(found?.at).toEqual(new Date('2025-12-07T14:24:45Z'));
    expect((await db.collection('alpha').indexes()).map((i) => i.name).sort()).toEqual(['_id_', 'by_name']);
  });

  it('a record over 16 MiB fails with DOCUMENT_TOO_LARGE naming its id, and the live collection is untouched', async () => {
    const db = freshDb();
    await db.collection('alpha').insertOne({ _id: 'old' } as never);
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const importer = new StagingImporter({ target, tables: { 'alpha.ndjson': 'alpha' } });
    const path = join(dir, 'big.tar.zst');
    (
      await writeDataset(path, { members: { 'alpha.ndjson': [{ _id: 'small' }, { _id: 'huge', blob: 'z'.repeat(17 * 1024 * 1024) }] } })
    )._unsafeUnwrap();
    const r = await importer.import(path);
    expect(r.isErr()).toBe(true);
    expect(r._unsafeUnwrapErr().code).toBe('DOCUMENT_TOO_LARGE');
    expect(r._unsafeUnwrapErr().context.id).toBe('huge');
    expect(await db.collection('alpha').find().toArray()).toEqual([{ _id: 'old' }]);
    expect(await db.listCollections({ name: 'alpha__incoming' }).toArray()).toEqual([]);
  });

  it('with a reject handler, an oversized document is rejected with its line and the rest loads', async () => {
    const db = freshDb();
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    const input = [
      { id: 'a', raw: '{"_id":"a"}', line: 1 },
      { id: 'big', raw: JSON.stringify({ _id: 'big', blob: 'z'.repeat(17 * 1024 * 1024) }), line: 2 },
      { id: 'c', raw: '{"_id":"c"}', line: 3 },
    ];
    const rejected: { id: string; line: number | undefined; code: string }[] = [];
    const loaded = await s.load('alpha', chunks(input, 2), (row, error) => {
      rejected.push({ id: row.id, line: row.line, code: error.code });
    });
    expect(loaded._unsafeUnwrap()).toBe(2);
    expect(rejected).toEqual([{ id: 'big', line: 2, code: 'DOCUMENT_TOO_LARGE' }]);
    expect((await s.count('alpha'))._unsafeUnwrap()).toBe(2);
    (await s.abort())._unsafeUnwrap();
  });

  it("through StagingImporter with onInvalid: 'reject', a line that is not UTF-8 or is over maxLineBytes is set aside and the rest loads", async () => {
    const db = freshDb();
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const importer = new StagingImporter({ target, tables: { 'alpha.ndjson': 'alpha' } });
    const notUtf8 = Buffer.concat([Buffer.from('{"_id":"bad","t":"x'), Buffer.from([0xff]), Buffer.from('"}')]);
    const text = Buffer.concat([
      Buffer.from('{"_id":"a"}\n'),
      notUtf8,
      Buffer.from(`\n{"_id":"long","t":"${'z'.repeat(5000)}"}\n{"_id":"b"}`),
    ]);
    const path = handTarball(dir, 'unreadable.tar.zst', [{ name: 'alpha.ndjson', text }]);
    const rejectPath = join(dir, 'unreadable.rejects.ndjson');
    const report = (await importer.import(path, { onInvalid: 'reject', rejectPath, maxLineBytes: 1024 }))._unsafeUnwrap();
    expect(report.tables[0]).toMatchObject({ loaded: 2, rejected: 2, expected: 4, ok: true });
    const rejects = readFileSync(rejectPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rejects.map((r) => [r.line, r.code, r.truncated, r.bytes])).toEqual([
      [2, 'ENCODING_INVALID', undefined, undefined],
      [3, 'LINE_TOO_LONG', true, 5000 + 21],
    ]);
    expect(Buffer.from(String(rejects[0]?.rawBase64), 'base64')).toEqual(notUtf8);
    expect(await db.collection('alpha').find().sort({ _id: 1 }).toArray()).toEqual([{ _id: 'a' }, { _id: 'b' }]);
  });

  it('refuses to start over an __incoming collection it did not create (LOCKED, on 7.0+ too), and never drops it', async () => {
    const db = freshDb();
    await db.collection('alpha__incoming').insertOne({ _id: 'someone else' } as never);
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const r = await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] });
    expect(r.isErr() && r.error.code).toBe('LOCKED');
    expect(await db.collection('alpha__incoming').countDocuments()).toBe(1);
    expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: [], completed: [], notOurs: ['alpha__incoming'] });
    expect(await db.collection('alpha__incoming').countDocuments()).toBe(1);
  });

  it('a second import while one loads is LOCKED by the marker; a killed load is rolled back by dropLeftovers', async () => {
    const db = freshDb();
    await db.collection('alpha').insertOne({ _id: 'old' } as never);
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const first = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (await first.load('alpha', chunks(rows(10), 5)))._unsafeUnwrap();
    const second = await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] });
    expect(second.isErr() && second.error.code).toBe('LOCKED');
    expect(await db.collection('alpha__incoming').countDocuments()).toBe(10);
    // `first` is never committed nor aborted: the process died.
    expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: ['alpha__incoming'], completed: [], notOurs: [] });
    expect(await db.collection('alpha').find().toArray()).toEqual([{ _id: 'old' }]);
    expect(await db.collection('backfill_kit_staging').find().toArray()).toEqual([]);
  });

  /** Writes the commit record a session would write at its commit point, as a process killed right after it leaves it. */
  async function recordCommit(db: Db, tables: readonly string[]): Promise<void> {
    const markers = await db
      .collection<{ _id: string; live: string; session: string; uuid: string }>('backfill_kit_staging')
      .find({ kind: 'marker' })
      .toArray();
    const session = markers[0]!.session;
    await db.collection('backfill_kit_staging').insertOne({
      _id: `commit:${session}`,
      kind: 'commit',
      session,
      tables: tables.map((live) => ({ live, incoming: `${live}__incoming`, uuid: markers.find((m) => m.live === live)!.uuid })),
      startedAt: new Date(),
    } as never);
  }

  it('a process killed after the commit point, and after its first rename, is rolled forward by dropLeftovers (UUIDs survive the rename)', async () => {
    const db = freshDb();
    await db.collection('alpha').insertOne({ _id: 'old' } as never);
    await db.collection('beta').insertOne({ _id: 'old' } as never);
    const target = new MongoStagingTarget({ db, collections: ['alpha', 'beta'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha', 'beta'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(3), 3)))._unsafeUnwrap();
    (await s.load('beta', chunks(rows(2), 2)))._unsafeUnwrap();
    await recordCommit(db, ['alpha', 'beta']);
    await db.renameCollection('alpha__incoming', 'alpha', { dropTarget: true }); // the first rename ran, then the process died
    expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: [], completed: ['beta'], notOurs: [] });
    expect(await db.collection('alpha').countDocuments()).toBe(3);
    expect(await db.collection('beta').countDocuments()).toBe(2);
    expect(await db.collection('backfill_kit_staging').find().toArray()).toEqual([]);
  });

  it('the incoming collection takes the live one’s validator and collation; a view is refused', async () => {
    const db = freshDb();
    await db.createCollection('alpha', { validator: { $jsonSchema: { required: ['_id'] } }, collation: { locale: 'fr', strength: 2 } });
    await db.createCollection('beta', { viewOn: 'alpha', pipeline: [] });
    const target = new MongoStagingTarget({ db, collections: ['alpha', 'beta'] });
    const refused = await target.begin({ strategy: 'swap', dryRun: false, tables: ['beta'] });
    expect(refused.isErr() && refused.error.message).toContain('is a view');
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(2), 2)))._unsafeUnwrap();
    (await s.commit())._unsafeUnwrap();
    const [info] = await db.listCollections({ name: 'alpha' }).toArray();
    expect((info as { options?: unknown } | undefined)?.options).toMatchObject({
      validator: { $jsonSchema: { required: ['_id'] } },
      collation: { locale: 'fr', strength: 2 },
    });
  });

  it('DDL and writes carry { w: majority, wtimeout }; counts before commit read the primary with majority read concern', async () => {
    const db = freshDb();
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(3), 3)))._unsafeUnwrap();
    expect((await s.count('alpha'))._unsafeUnwrap()).toBe(3);
    (await s.commit())._unsafeUnwrap();
    for (const c of commands.filter((x) => ['create', 'insert', 'renameCollection', 'delete'].includes(x.commandName))) {
      expect({ cmd: c.commandName, wc: c.command.writeConcern }).toEqual({ cmd: c.commandName, wc: { w: 'majority', wtimeout: 60_000 } });
    }
    const count = commands.find((c) => c.commandName === 'aggregate' && c.command.aggregate === 'alpha__incoming');
    expect(count?.command.readConcern).toEqual({ level: 'majority' });
    if (replicaSet) expect(count?.command.$readPreference ?? { mode: 'primary' }).toMatchObject({ mode: 'primary' });
  });

  it('numbers are stored with the types mongoimport gives them', async () => {
    const db = freshDb();
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks([{ id: 'n', raw: '{"_id":"n","big":9007199254740993,"seven":7.0,"small":7}' }], 1)))._unsafeUnwrap();
    (await s.commit())._unsafeUnwrap();
    const types = await db
      .collection('alpha')
      .aggregate([
        {
          $project: {
            _id: 0,
            big: { $type: '$big' },
            seven: { $type: '$seven' },
            small: { $type: '$small' },
            exact: { $eq: ['$big', { $toLong: '9007199254740993' }] },
          },
        },
      ])
      .toArray();
    expect(types).toEqual([{ big: 'long', seven: 'double', small: 'int', exact: true }]);
  });

  it('the size limit sits where the driver puts it: maxBsonObjectSize − 1 bytes load, maxBsonObjectSize bytes go to the reject handler', async () => {
    const db = freshDb();
    const max = Number((await db.command({ hello: 1 })).maxBsonObjectSize);
    const overhead = BSON.calculateObjectSize({ _id: 'x', s: '' });
    const sized = (id: string, bytes: number) => ({ id, raw: JSON.stringify({ _id: id, s: 'x'.repeat(bytes - overhead) }), line: 1 });
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    const rejected: string[] = [];
    const loaded = await s.load('alpha', chunks([sized('a', max - 1), sized('b', max)], 1), (row) => {
      rejected.push(row.id);
    });
    expect(loaded._unsafeUnwrap()).toBe(1);
    expect(rejected).toEqual(['b']);
    (await s.abort())._unsafeUnwrap();
  });

  /** Sets a `failCommand` fail point, or skips the test (with the reason) when the server does not allow it. */
  async function failCommand(ctx: { skip: (note: string) => void }, data: Record<string, unknown>, times = 1): Promise<void> {
    try {
      await client.db('admin').command({ configureFailPoint: 'failCommand', mode: { times }, data });
    } catch (error) {
      ctx.skip(
        `skipped: this server does not accept failCommand fail points (start it with --setParameter enableTestCommands=1): ${(error as Error).message}`,
      );
    }
  }

  it('truncate keeps the live collection (UUID, indexes, validator): deleteMany, then $merge, under { w: majority, wtimeout }', async () => {
    const db = freshDb();
    await db.createCollection('alpha', { validator: { i: { $type: 'int' } } });
    await db.collection('alpha').createIndex({ i: 1 }, { name: 'i_1' });
    await db.collection('alpha').insertMany(rows(5).map((r) => ({ _id: `old-${r.id}`, i: 0 })) as never);
    const uuid = async (): Promise<string | undefined> =>
      (
        (await db.listCollections({ name: 'alpha' }).toArray())[0] as { info?: { uuid?: BSON.UUID } } | undefined
      )?.info?.uuid?.toHexString();
    const before = await uuid();
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'truncate', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(300), 64)))._unsafeUnwrap();
    expect(await db.collection('alpha').countDocuments()).toBe(5);
    commands.length = 0;
    (await s.commit())._unsafeUnwrap();
    expect(await uuid()).toBe(before);
    expect(await db.collection('alpha').countDocuments()).toBe(300);
    expect(await db.collection('alpha').countDocuments({ _id: { $regex: '^old-' } } as never)).toBe(0);
    expect((await db.collection('alpha').listIndexes().toArray()).map((ix) => ix.name).sort()).toEqual(['_id_', 'i_1']);
    const [info] = await db.listCollections({ name: 'alpha' }).toArray();
    expect((info as { options?: unknown }).options).toMatchObject({ validator: { i: { $type: 'int' } } });
    const steps = commands.filter(
      (c) => ['delete', 'aggregate', 'renameCollection'].includes(c.commandName) && c.command.delete !== 'backfill_kit_staging',
    );
    expect(steps.map((c) => c.commandName)).toEqual(['delete', 'aggregate']);
    for (const c of steps) expect(c.command.writeConcern).toMatchObject({ w: 'majority', wtimeout: 60_000 });
    expect(steps[1]!.command.pipeline).toEqual([
      { $merge: { into: 'alpha', on: '_id', whenMatched: 'replace', whenNotMatched: 'insert' } },
    ]);
    expect((await db.listCollections({ name: 'alpha__incoming' }).toArray()).length).toBe(0);
  });

  it('a truncate commit killed after emptying the live collection is rolled forward in place by dropLeftovers', async () => {
    const db = freshDb();
    await db.collection('alpha').insertMany(rows(5).map((r) => ({ _id: `old-${r.id}` })) as never);
    const uuid = (await db.listCollections({ name: 'alpha' }).toArray())[0] as { info?: { uuid?: BSON.UUID } };
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'truncate', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(50), 64)))._unsafeUnwrap();
    // What a process killed right after `deleteMany` leaves: the commit record, an empty live collection, the loaded one.
    const incoming = (await db.listCollections({ name: 'alpha__incoming' }).toArray())[0] as { info?: { uuid?: BSON.UUID } };
    const marker = await db.collection('backfill_kit_staging').findOne({ _id: 'alpha__incoming' } as never);
    const session = String(marker?.session);
    await db.collection('backfill_kit_staging').insertOne({
      _id: `commit:${session}`,
      kind: 'commit',
      session,
      tables: [{ live: 'alpha', incoming: 'alpha__incoming', uuid: incoming.info?.uuid?.toHexString(), method: 'copy' }],
      copied: [],
      startedAt: new Date(),
    } as never);
    await db.collection('alpha').deleteMany({});
    expect((await target.dropLeftovers())._unsafeUnwrap()).toEqual({ dropped: [], completed: ['alpha'], notOurs: [] });
    expect(await db.collection('alpha').countDocuments()).toBe(50);
    const after = (await db.listCollections({ name: 'alpha' }).toArray())[0] as { info?: { uuid?: BSON.UUID } };
    expect(after.info?.uuid?.toHexString()).toBe(uuid.info?.uuid?.toHexString());
    expect(await db.collection('backfill_kit_staging').countDocuments()).toBe(0);
  });

  it('a rename that fails with a retryable error is retried, and the commit completes', async (ctx) => {
    const db = freshDb();
    const target = new MongoStagingTarget({ db, collections: ['alpha'], retryDelayMs: 10 });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    (await s.load('alpha', chunks(rows(3), 3)))._unsafeUnwrap();
    await failCommand(ctx, { failCommands: ['renameCollection'], errorCode: 91, errorLabels: ['RetryableWriteError'] });
    (await s.commit())._unsafeUnwrap();
    expect(await db.collection('alpha').countDocuments()).toBe(3);
  });

  it('on a replica set, a transient transaction error reruns the batch to one clean write', async (ctx) => {
    if (!replicaSet) ctx.skip('skipped: the server at BACKFILL_KIT_MONGODB_URL is standalone; transactions need a replica set');
    const db = freshDb();
    const sink = new MongoStatementSink({ db, client });
    (await sink.prepare())._unsafeUnwrap();
    await failCommand(ctx, { failCommands: ['update'], errorCode: 112, errorLabels: ['TransientTransactionError'] });
    const A = digest(1);
    const r = (await sink.commitBatch(batch('r', [doc(A, [claim(A, 'CVE-1', 'p1'), claim(A, 'CVE-2', 'p1')])])))._unsafeUnwrap();
    expect(r.claimsWritten).toBe(2);
    expect(await db.collection('statements').countDocuments()).toBe(2);
  });

  it('a raw document whose retrievedAt is a string is refused with DOCUMENT_INVALID naming it', async () => {
    const db = freshDb();
    const source = new MongoRawDocumentSource({ db });
    (await source.prepare())._unsafeUnwrap();
    (await source.append([{ digest: 'sha256:a', retrievedAt: new Date(0), content: '{}' }]))._unsafeUnwrap();
    await db.collection('raw_documents').insertOne({ _id: 'bad', digest: 'sha256:bad', retrievedAt: '2025-10-19', content: '{}' } as never);
    const r = await source.readPage({ limit: 10, retrievedSince: new Date(0) });
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.context).toMatchObject({ id: 'bad', count: 1 });
  });

  it('a collection with a case-insensitive default collation is refused (its _id lookups match other digests); a simple one is not', async () => {
    const db = freshDb();
    const ci = { locale: 'en', strength: 2 };
    await db.createCollection('raw_documents', { collation: ci });
    await db.createCollection('statement_documents', { collation: ci });
    // Why: the server applies the collection's collation to _id lookups, so a digest matches another that differs only in case.
    await db.collection<{ _id: string }>('statement_documents').insertOne({ _id: 'sha256:ABC' });
    expect(await db.collection<{ _id: string }>('statement_documents').countDocuments({ _id: { $in: ['sha256:abc'] } })).toBe(1);
    const page = await new MongoRawDocumentSource({ db }).readPage({ limit: 1 });
    expect(page.isErr() && page.error.code).toBe('INVALID_ARGUMENT');
    expect(page.isErr() && page.error.context).toMatchObject({ table: 'raw_documents', collation: { locale: 'en', strength: 2 } });
    const prepared = await new MongoStatementSink({ db, client }).prepare();
    expect(prepared.isErr() && prepared.error.context).toMatchObject({ table: 'statement_documents' });
    expect(await db.listCollections({ name: 'statements' }).toArray()).toEqual([]); // refused before anything was created

    const simple = freshDb();
    await simple.createCollection('raw_documents', { collation: { locale: 'simple' } });
    await simple.createCollection('statement_documents');
    const source = new MongoRawDocumentSource({ db: simple });
    (await source.prepare())._unsafeUnwrap();
    expect((await source.readPage({ limit: 1 }))._unsafeUnwrap()).toEqual([]);
    (await new MongoStatementSink({ db: simple, client }).prepare())._unsafeUnwrap();
    for (const info of await simple.listCollections({}, { nameOnly: false }).toArray())
      expect(nonSimpleCollation(info), info.name).toBeUndefined();
  });

  it('without transactions, a batch cut after its document records resumes to the uninterrupted counters and report hash', async () => {
    const docs = [...generateVexDocuments({ seed: 7, count: 60, brokenRatio: 0, spacingMs: 1000 })];
    const fill = async (db: Db) => {
      const source = new MongoRawDocumentSource({ db });
      (await source.prepare())._unsafeUnwrap();
      (await source.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content }))))._unsafeUnwrap();
      return source;
    };
    const refDb = freshDb();
    const reference = (
      await new StatementBackfiller({
        source: await fill(refDb),
        sink: new MongoStatementSink({ db: refDb, client, transactions: 'never' }),
        normalizers: defaultVexNormalizers,
      }).run({ runId: 'r', batchSize: 20 })
    )._unsafeUnwrap();
    const db = freshDb();
    const sink = new MongoStatementSink({ db, client, transactions: 'never', maxAttempts: 1 });
    const bf = new StatementBackfiller({ source: await fill(db), sink, normalizers: defaultVexNormalizers });
    (await sink.prepare())._unsafeUnwrap();
    // The second batch's checkpoint (evaluated 40) is rejected after its claims and document records were written.
    await db.command({ collMod: 'statement_backfill_checkpoints', validator: { 'counters.evaluated': { $lt: 40 } } });
    expect((await bf.run({ runId: 'r', batchSize: 20 })).isErr()).toBe(true);
    await db.command({ collMod: 'statement_backfill_checkpoints', validator: {} });
    const resumed = (await bf.run({ runId: 'r', batchSize: 20 }))._unsafeUnwrap();
    expect(resumed.text).toBe(reference.text);
    expect(resumed.reportSha256).toBe(reference.reportSha256);
  });

  it.for([
    ['without transactions', { transactions: 'never' as const }, false],
    ['in a batch split over several transactions', { transactionClaims: 5 }, true],
  ] as const)(
    '%s, a forced run cut short leaves the documents an earlier run backfilled trusted (a later run skips them)',
    async ([, config, needsReplicaSet], ctx) => {
      if (needsReplicaSet && !replicaSet)
        ctx.skip('skipped: the server at BACKFILL_KIT_MONGODB_URL is standalone; transactions need a replica set');
      const docs = [...generateVexDocuments({ seed: 7, count: 60, brokenRatio: 0, spacingMs: 1000 })];
      const db = freshDb();
      const source = new MongoRawDocumentSource({ db });
      (await source.prepare())._unsafeUnwrap();
      (await source.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content }))))._unsafeUnwrap();
      const bf = new StatementBackfiller({
        source,
        sink: new MongoStatementSink({ db, client, ...config }),
        normalizers: defaultVexNormalizers,
      });
      expect((await bf.run({ runId: 'a', batchSize: 20 }))._unsafeUnwrap().backfilled).toBe(60);
      const cut = new MongoStatementSink({ db, client, ...config, maxAttempts: 1 });
      // The forced run's first checkpoint is rejected after (part of) its batch's document records were overwritten.
      await db.command({ collMod: 'statement_backfill_checkpoints', validator: { _id: { $ne: 'b' } } });
      const forced = new StatementBackfiller({ source, sink: cut, normalizers: defaultVexNormalizers });
      expect((await forced.run({ runId: 'b', force: true, batchSize: 20 })).isErr()).toBe(true);
      expect(await db.collection('statement_documents').countDocuments({ runId: 'b' })).toBeGreaterThan(0);
      await db.command({ collMod: 'statement_backfill_checkpoints', validator: {} });
      const later = (await bf.run({ runId: 'c', batchSize: 20 }))._unsafeUnwrap();
      expect([later.evaluated, later.backfilled, later.skipped]).toEqual([60, 0, 60]);
    },
  );

  it('a commit that cannot build the live indexes on the new data replaces nothing', async () => {
    const db = freshDb();
    await db.collection('alpha').createIndex({ k: 1 }, { unique: true });
    await db.collection('alpha').insertOne({ _id: 'old', k: 1 } as never);
    const target = new MongoStagingTarget({ db, collections: ['alpha'] });
    const s = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['alpha'] }))._unsafeUnwrap();
    const same = [
      { id: 'a', raw: '{"_id":"a","k":5}' },
      { id: 'b', raw: '{"_id":"b","k":5}' },
    ];
    (await s.load('alpha', chunks(same, 2)))._unsafeUnwrap();
    expect((await s.commit()).isErr()).toBe(true);
    (await s.abort())._unsafeUnwrap();
    expect(await db.collection('alpha').find().toArray()).toEqual([{ _id: 'old', k: 1 }]);
  });

  it('a raw document without content becomes one failure with its digest; the run goes on', async () => {
    const db = freshDb();
    const source = new MongoRawDocumentSource({ db });
    (await source.prepare())._unsafeUnwrap();
    await db.collection('raw_documents').insertOne({ digest: 'sha256:no-content', retrievedAt: new Date('2025-10-19T08:00:00Z') });
    const bf = new StatementBackfiller({ source, sink: new MongoStatementSink({ db, client }), normalizers: defaultVexNormalizers });
    const summary = (await bf.run({ runId: 'r' }))._unsafeUnwrap();
    expect(summary.failures).toBe(1);
    expect(summary.failed.map((f) => f.digest)).toEqual(['sha256:no-content']);
  });

  it('claims go out as unordered upserts under majority write concern', async () => {
    const db = freshDb();
    const sink = new MongoStatementSink({ db, client, transactions: 'never' });
    (await sink.prepare())._unsafeUnwrap();
    const A = digest(1);
    (await sink.commitBatch(batch('r', [doc(A, [claim(A, 'CVE-1', 'p1'), claim(A, 'CVE-2', 'p1')])])))._unsafeUnwrap();
    const updates = commands.filter((c) => c.commandName === 'update' && c.command.update === 'statements');
    expect(updates).toHaveLength(1);
    expect(updates[0]!.command.ordered).toBe(false);
    expect(updates[0]!.command.writeConcern).toMatchObject({ w: 'majority' });
    expect((updates[0]!.command.updates as { upsert: boolean }[]).every((u) => u.upsert)).toBe(true);
    const indexes = await db.collection('statements').indexes();
    expect(indexes.find((i) => i.name === 'claim_key')).toMatchObject({
      unique: true,
      key: { documentDigest: 1, vulnerabilityId: 1, productKey: 1 },
    });
  });

  /**
   * Commits run r1 (claims CVE-1 and CVE-2 of one document), then makes every
   * failure write fail, and returns r2: a forced batch replacing those claims
   * with CVE-3 that breaks after its claims were written.
   */
  async function forcedBatchThatBreaks(db: Db, sink: MongoStatementSink): Promise<ReturnType<typeof batch>> {
    (await sink.prepare())._unsafeUnwrap();
    const A = digest(1);
    (await sink.commitBatch(batch('r1', [doc(A, [claim(A, 'CVE-1', 'p1'), claim(A, 'CVE-2', 'p1')])])))._unsafeUnwrap();
    await db.command({
      collMod: 'statement_backfill_failures',
      validator: { $jsonSchema: { properties: { message: { bsonType: 'string', maxLength: 3 } } } },
    });
    return batch('r2', [doc(A, [claim(A, 'CVE-3', 'p3')])], {
      force: true,
      failures: [{ digest: digest(2), code: 'NO_NORMALIZER', message: 'too long a message' }],
    });
  }

  it('on a replica set, a forced batch that fails part-way changes nothing (transaction rolled back)', async (ctx) => {
    if (!replicaSet) ctx.skip('skipped: the server at BACKFILL_KIT_MONGODB_URL is standalone; transactions need a replica set');
    const db = freshDb();
    const sink = new MongoStatementSink({ db, client });
    expect((await sink.usesTransactions())._unsafeUnwrap()).toBe(true);
    const failing = await forcedBatchThatBreaks(db, sink);
    expect((await sink.commitBatch(failing)).isErr()).toBe(true);
    const left = await db
      .collection('statements')
      .find({}, { projection: { _id: 0, vulnerabilityId: 1 } })
      .sort({ vulnerabilityId: 1 })
      .toArray();
    expect(left).toEqual([{ vulnerabilityId: 'CVE-1' }, { vulnerabilityId: 'CVE-2' }]);
    expect((await sink.loadCheckpoint('r2'))._unsafeUnwrap()).toBeNull();
  });

  it('without transactions, a forced batch cut short converges when replayed (idempotent delete-then-upsert)', async () => {
    const db = freshDb();
    const sink = new MongoStatementSink({ db, client, transactions: 'never', maxAttempts: 1 });
    const forced = await forcedBatchThatBreaks(db, sink);
    expect((await sink.commitBatch(forced)).isErr()).toBe(true);
    // The checkpoint is the commit point: it was not saved, so a resumed run replays this batch.
    expect((await sink.loadCheckpoint('r2'))._unsafeUnwrap()).toBeNull();
    await db.command({ collMod: 'statement_backfill_failures', validator: {} });
    const replay = (await sink.commitBatch(forced))._unsafeUnwrap();
    expect(replay.claimsWritten).toBe(1);
    const left = await db
      .collection('statements')
      .find({}, { projection: { _id: 0, vulnerabilityId: 1 } })
      .toArray();
    expect(left).toEqual([{ vulnerabilityId: 'CVE-3' }]);
    expect((await sink.loadCheckpoint('r2'))._unsafeUnwrap()?.failed).toHaveLength(1);
  });
});
