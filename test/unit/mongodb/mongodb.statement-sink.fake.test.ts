/**
 * MongoStatementSink, MongoCheckpointStore and MongoRawDocumentSource driven
 * through the recording driver fake: crash and retry paths (a batch cut
 * after its document records, a transient transaction error, a lagging
 * secondary) that only a fault injector can reach in CI.
 */
import type { Db, MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { MongoStatementSink, type MongoStatementSinkConfig } from '../../../src/mongodb/mongo-statement-sink.js';
import { MongoRawDocumentSource } from '../../../src/mongodb/mongo-raw-document-source.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { batch, checkpoint, claim, digest, doc } from '../../contract/statement-fixtures.js';
import { FakeMongo, serverError, transientTransactionError, type FakeServerOptions } from '../../support/recording-mongo-fake.js';

function setup(server: FakeServerOptions = {}, config: Partial<MongoStatementSinkConfig> = {}) {
  const fake = new FakeMongo(server);
  const db = fake.db() as unknown as Db;
  const client = fake.client as unknown as MongoClient;
  const sink = new MongoStatementSink({ db, client, retryDelayMs: 1, ...config });
  return { fake, db, sink };
}

const documents = [...generateVexDocuments({ seed: 7, count: 60, brokenRatio: 0, spacingMs: 1000 })];

async function backfiller(fake: FakeMongo, sink: MongoStatementSink): Promise<StatementBackfiller> {
  const source = new MongoRawDocumentSource({ db: fake.db() as unknown as Db });
  (await source.prepare())._unsafeUnwrap();
  (await source.append(documents.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content }))))._unsafeUnwrap();
  return new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers });
}

/** Where a batch can be cut after some of its writes: no transactions, or several per batch. */
const WITHOUT_ONE_TRANSACTION = [
  ['a standalone server', { topology: 'standalone' }, {}],
  ["transactions: 'never'", {}, { transactions: 'never' }],
  ['a batch split over several transactions', {}, { transactionClaims: 5 }],
] as const;

describe.each(WITHOUT_ONE_TRANSACTION)('resume without force on %s', (_name, server, config) => {
  it('a batch cut after its document records but before its checkpoint resumes to the uninterrupted counters and report hash', async () => {
    const ref = setup(server, config);
    const reference = (await (await backfiller(ref.fake, ref.sink)).run({ runId: 'r', batchSize: 20 }))._unsafeUnwrap();

    const { fake, sink } = setup(server, { ...config, maxAttempts: 1 });
    const bf = await backfiller(fake, sink);
    // The second batch's checkpoint write fails (not retryable): its claims and document records are already stored.
    fake.failOn({
      op: 'update',
      ns: 'statement_backfill_checkpoints',
      nth: 2,
      error: () => serverError(121, 'Document failed validation'),
    });
    const cut = await bf.run({ runId: 'r', batchSize: 20 });
    expect(cut.isErr()).toBe(true);
    expect((fake.documents('statement_documents') ?? []).length).toBeGreaterThan(20);
    const resumed = (await bf.run({ runId: 'r', batchSize: 20 }))._unsafeUnwrap();
    expect(resumed.resumed).toBe(true);
    expect(resumed.text).toBe(reference.text);
    expect(resumed.reportSha256).toBe(reference.reportSha256);
  });
});

describe.each(WITHOUT_ONE_TRANSACTION)('a forced run cut short on %s', (_name, server, config) => {
  it('leaves the documents an earlier run backfilled trusted: a later run skips them, as on PostgreSQL', async () => {
    const { fake, db, sink } = setup(server, config);
    const bf = await backfiller(fake, sink);
    const first = (await bf.run({ runId: 'a', batchSize: 20 }))._unsafeUnwrap();
    expect(first.backfilled).toBe(60);
    // Forced run b's first checkpoint write fails (not retryable) after (part of) its batch's document records were overwritten.
    const cutSink = new MongoStatementSink({
      db,
      client: fake.client as unknown as MongoClient,
      retryDelayMs: 1,
      ...config,
      maxAttempts: 1,
    });
    const forced = new StatementBackfiller({
      source: new MongoRawDocumentSource({ db }),
      sink: cutSink,
      normalizers: defaultVexNormalizers,
    });
    fake.failOn({ op: 'update', ns: 'statement_backfill_checkpoints', error: () => serverError(121, 'Document failed validation') });
    expect((await forced.run({ runId: 'b', force: true, batchSize: 20 })).isErr()).toBe(true);
    expect((fake.documents('statement_documents') ?? []).filter((d) => d['runId'] === 'b').length).toBeGreaterThan(0);
    const later = (await bf.run({ runId: 'c', batchSize: 20 }))._unsafeUnwrap();
    expect([later.evaluated, later.backfilled, later.skipped]).toEqual([60, 0, 60]);
    // b resumed: its records count once its checkpoint reaches them, and it ends as an uninterrupted forced run.
    const resumed = (await forced.run({ runId: 'b', force: true, batchSize: 20 }))._unsafeUnwrap();
    expect([resumed.evaluated, resumed.backfilled, resumed.skipped]).toEqual([60, 60, 0]);
  });
});

describe('transactions', () => {
  it('a transient transaction error reruns the batch: the claims and the counters are those of one clean write', async () => {
    const { fake, sink, db } = setup();
    (await sink.prepare())._unsafeUnwrap();
    const A = digest(1);
    fake.failOn({ op: 'update', ns: 'statement_documents', error: () => transientTransactionError() });
    const r = (await sink.commitBatch(batch('r', [doc(A, [claim(A, 'CVE-1', 'p1'), claim(A, 'CVE-2', 'p1')])])))._unsafeUnwrap();
    expect(r.claimsWritten).toBe(2);
    expect(await db.collection('statements').countDocuments({})).toBe(2);
    expect(fake.calls.filter((c) => c.op === 'update' && c.ns === 'statements')).toHaveLength(2); // written, rolled back, written again
    expect(fake.calls.find((c) => c.op === 'withTransaction')?.options).toMatchObject({
      writeConcern: { w: 'majority', wtimeoutMS: 60_000 },
      readPreference: 'primary',
      maxCommitTimeMS: 60_000,
    });
  });

  it('a batch is split by claims so no transaction holds more than transactionClaims; the checkpoint rides in the last one', async () => {
    const { fake, sink } = setup({}, { transactionClaims: 3 });
    (await sink.prepare())._unsafeUnwrap();
    const docs = [1, 2, 3, 4].map((n) => doc(digest(n), [claim(digest(n), 'CVE-1', 'p1'), claim(digest(n), 'CVE-2', 'p1')]));
    fake.calls.length = 0;
    const r = (
      await sink.commitBatch(batch('r', docs, { checkpoint: checkpoint('r', { evaluated: 4, backfilled: 4, claimsWritten: 8 }, null) }))
    )._unsafeUnwrap();
    expect(r.claimsWritten).toBe(8);
    const upserts = fake.calls.filter((c) => c.op === 'update' && c.ns === 'statements');
    expect(upserts.map((c) => (c.args as unknown[]).length)).toEqual([2, 2, 2, 2]);
    expect(fake.calls.filter((c) => c.op === 'withTransaction')).toHaveLength(4);
    expect(fake.calls.filter((c) => c.ns === 'statement_backfill_checkpoints' && c.op === 'update')).toHaveLength(1);
    expect(fake.calls.findLast((c) => c.inTransaction)?.ns).toBe('statement_backfill_checkpoints');
  });

  it('rejects transaction limits that cannot make progress', async () => {
    const { sink } = setup({}, { transactionClaims: 0 });
    expect((await sink.prepare())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });
});

describe('reads that decide go to the primary', () => {
  it('loadCheckpoint and existingDigests do not read a lagging secondary', async () => {
    const { fake, sink } = setup({}, { transactions: 'never' });
    (await sink.prepare())._unsafeUnwrap();
    fake.lagSecondary();
    const A = digest(1);
    (
      await sink.commitBatch(
        batch('r', [doc(A, [claim(A, 'CVE-1', 'p1')])], {
          checkpoint: checkpoint('r', { evaluated: 1, backfilled: 1, claimsWritten: 1 }, null),
        }),
      )
    )._unsafeUnwrap();
    expect((await sink.loadCheckpoint('r'))._unsafeUnwrap()?.counters.evaluated).toBe(1);
    expect([...(await sink.existingDigests([A]))._unsafeUnwrap()]).toEqual([A]);
  });

  it('prepare builds indexes and collections under the write concern with its timeout', async () => {
    const { fake, sink } = setup();
    (await sink.prepare())._unsafeUnwrap();
    const ddl = fake.calls.filter((c) => c.op === 'create' || c.op === 'createIndexes');
    expect(ddl.length).toBeGreaterThanOrEqual(4);
    for (const c of ddl) expect(c.options.writeConcern).toEqual({ w: 'majority', wtimeoutMS: 60_000 });
  });
});

describe('collection options that name one collection', () => {
  it('statements and documents in one collection are refused before anything is written, not a DUPLICATE_ID telling the operator to remove records', async () => {
    const { fake, sink } = setup({}, { documentsCollection: 'statements' });
    const r = await (await backfiller(fake, sink)).run({ runId: 'r', batchSize: 20 });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain('statementsCollection and documentsCollection both name the collection "statements"');
    expect(fake.documents('statements')).toBeUndefined();
  });
});
