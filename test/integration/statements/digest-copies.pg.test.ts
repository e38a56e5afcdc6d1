/**
 * A raw documents table of the caller's may hold a digest more than once
 * (its digest need not be unique). A copy gets the same outcome whether it
 * shares its first copy's page or lands on a later one, so the summary and
 * report hash do not depend on the batch size. A distributed run, whose
 * ranges run at the same time, refuses such a keyspace when it is planned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import type { GeneratedVexDocument } from '../../../src/testing/vex-documents.js';
import { dumpStatements, inProcessingOrder, psql, seedDocuments } from './helpers.js';

let db: TestDatabase;
let docs: GeneratedVexDocument[];
/** The documents stored again under the same digest. */
const copied: GeneratedVexDocument[] = [];
/** Copies of a document's digest (and content) later in the keyspace: how many pages later each lands depends on the batch size. */
const COPIES_AFTER = [1, 2, 3, 5, 8];

function sinkFor(prefix: string): PgStatementSink {
  return new PgStatementSink({
    pg: db.pool,
    statementsTable: `${prefix}.statements`,
    documentsTable: `${prefix}.documents`,
    checkpointsTable: `${prefix}.checkpoints`,
    failuresTable: `${prefix}.failures`,
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  docs = await seedDocuments(db.url, { seed: 19, count: 60, brokenRatio: 0.1 });
  // A table of the caller's without a unique digest: some documents stored again, later, under the same digest.
  psql(
    db.url,
    `CREATE TABLE vex.raw_with_copies (digest text NOT NULL, retrieved_at timestamptz NOT NULL, content text NOT NULL);
     CREATE INDEX ON vex.raw_with_copies (retrieved_at, digest);
     INSERT INTO vex.raw_with_copies SELECT digest, retrieved_at, content FROM vex.raw_documents;`,
  );
  const sorted = inProcessingOrder(docs);
  for (const [i, doc] of sorted.entries()) {
    if (i % 7 !== 0) continue;
    copied.push(doc);
    const later = sorted[Math.min(sorted.length - 1, i + (COPIES_AFTER[(i / 7) % COPIES_AFTER.length] as number))] as GeneratedVexDocument;
    await db.query(
      `INSERT INTO vex.raw_with_copies (digest, retrieved_at, content) SELECT digest, $2::timestamptz + interval '1 microsecond', content FROM vex.raw_documents WHERE digest = $1`,
      [doc.digest, later.retrievedAt],
    );
  }
});
afterAll(async () => {
  await db.drop();
});

/**
 * What `run` makes of the copies table with each batch size, with and
 * without a normalizer thread: one result per combination, the first with
 * the whole table in one batch.
 */
async function acrossBatchSizes<T>(
  tag: string,
  run: (backfiller: StatementBackfiller, prefix: string, batchSize: number) => Promise<T>,
): Promise<T[]> {
  const source = new PgRawDocumentSource({ pg: db.pool, table: 'vex.raw_with_copies' });
  await using threads = new NormalizerThreads({ threads: 1 });
  const results: T[] = [];
  for (const batchSize of [1000, 1, 2, 3, 7]) {
    for (const withThreads of [false, true]) {
      const prefix = `${tag}_${batchSize}_${withThreads ? 't' : 'n'}`;
      const backfiller = new StatementBackfiller({
        source,
        sink: sinkFor(prefix),
        normalizers: defaultVexNormalizers,
        ...(withThreads ? { normalizerThreads: threads } : {}),
      });
      results.push(await run(backfiller, prefix, batchSize));
    }
  }
  return results;
}

describe('copies of a digest', () => {
  it("get the same outcomes on their first copy's page as on later pages, whatever the batch size, with and without threads", async () => {
    expect(Number(psql(db.url, 'SELECT count(*) - count(DISTINCT digest) FROM vex.raw_with_copies'))).toBe(copied.length);
    // A copy of a backfilled document is skipped; a copy of a failed one fails again (failures are not stored as documents).
    const skippedCopies = copied.filter((d) => d.kind !== 'broken').length;
    expect(skippedCopies).toBeGreaterThan(4);
    expect(copied.length).toBeGreaterThan(skippedCopies);
    const runs = await acrossBatchSizes('c', async (bf, prefix, batchSize) => {
      const s = (await bf.run({ runId: prefix, batchSize }))._unsafeUnwrap();
      return { text: s.text, report: s.reportSha256, skipped: s.skipped };
    });
    const [whole] = runs;
    expect(whole?.skipped).toBe(skippedCopies);
    for (const r of runs) expect(r).toEqual(whole);
  });

  it('under force are each evaluated on their own, on any page: the same outcomes and statements whatever the batch size', async () => {
    const runs = await acrossBatchSizes('f', async (bf, prefix, batchSize) => {
      // Forced over statements a first run wrote, as force is used.
      (await bf.run({ runId: `${prefix}_first`, batchSize }))._unsafeUnwrap();
      const s = (await bf.run({ runId: prefix, batchSize, force: true }))._unsafeUnwrap();
      const statements = dumpStatements(db.url, `${prefix}.statements`);
      return { text: s.text, report: s.reportSha256, skipped: s.skipped, backfilled: s.backfilled, statements };
    });
    const [whole] = runs;
    // Every copy of a good document is backfilled again; none is skipped.
    expect(whole?.skipped).toBe(0);
    const good = docs.filter((d) => d.kind !== 'broken').length + copied.filter((d) => d.kind !== 'broken').length;
    expect(whole?.backfilled).toBe(good);
    expect(whole?.statements.length).toBeGreaterThan(0);
    for (const r of runs) expect(r).toEqual(whole);
  }, 120_000);

  it('are refused by a distributed plan, which names one and says what to do; a scope without copies is planned', async () => {
    const tables = (p: string) => ({
      raw: 'vex.raw_with_copies',
      ...Object.fromEntries(
        ['statements', 'documents', 'checkpoints', 'failures', 'runs', 'ranges', 'workers'].map((t) => [t, `${p}.${t}`]),
      ),
    });
    const config = { connectionString: db.url, tables: tables('spread') };
    const refused = await planBackfill(config, { runId: 'spread', batchSize: 4, rangeSize: 6 });
    const error = refused._unsafeUnwrapErr();
    expect(error.code).toBe('DOCUMENT_INVALID');
    expect(error.context).toMatchObject({ digests: copied.length, copies: 2 });
    expect(copied.map((d) => d.digest)).toContain(error.context['digest']);
    expect(error.message).toMatch(/occur more than once .* keep one row per digest .* or run a single-process backfill/);
    expect(psql(db.url, 'SELECT count(*) FROM spread.runs')).toBe('0');
    const force = await planBackfill(config, { runId: 'spread', force: true, maxDocuments: 20 });
    expect(force._unsafeUnwrapErr().code).toBe('DOCUMENT_INVALID');

    // From the 58th document on, only the last copy is in scope (its first copy is before): planned, and
    // worked by two workers, the run ends with the single process's report over the same scope.
    const retrievedSince = (inProcessingOrder(docs)[57] as GeneratedVexDocument).retrievedAt;
    const source = new PgRawDocumentSource({ pg: db.pool, table: 'vex.raw_with_copies' });
    const single = new StatementBackfiller({ source, sink: sinkFor('since_one'), normalizers: defaultVexNormalizers });
    const one = (await single.run({ runId: 'one', batchSize: 2, retrievedSince }))._unsafeUnwrap();
    expect(one.evaluated).toBe(4);
    const scoped = { connectionString: db.url, tables: tables('since_spread') };
    (await planBackfill(scoped, { runId: 'since', batchSize: 2, rangeSize: 2, retrievedSince }))._unsafeUnwrap();
    await Promise.all([runBackfillWorker(scoped, { untilDone: true }), runBackfillWorker(scoped, { untilDone: true })]);
    const report = (await backfillReport(scoped, 'since'))._unsafeUnwrap();
    expect(report.summary.text).toBe(one.text);
    expect(report.summary.reportSha256).toBe(one.reportSha256);
  }, 120_000);

  it('are refused even where a unique index on digest vouches for nothing: an invalid one, or a parent of inheriting tables', async () => {
    const planOver = (raw: string, prefix: string) =>
      planBackfill(
        { connectionString: db.url, tables: { raw, runs: `${prefix}.runs`, ranges: `${prefix}.ranges`, workers: `${prefix}.workers` } },
        { runId: prefix, batchSize: 10, rangeSize: 10 },
      );
    psql(db.url, 'CREATE TABLE vex.raw_invalid_index AS SELECT * FROM vex.raw_with_copies');
    // A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an INVALID index behind.
    expect(() => psql(db.url, 'CREATE UNIQUE INDEX CONCURRENTLY raw_invalid_digest ON vex.raw_invalid_index (digest)')).toThrow(
      /could not create unique index/,
    );
    expect((await planOver('vex.raw_invalid_index', 'invalid_index'))._unsafeUnwrapErr().code).toBe('DOCUMENT_INVALID');

    // A parent's unique digest does not cover the rows of a table that inherits from it, which every page reads too.
    psql(
      db.url,
      `CREATE TABLE vex.raw_parent (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, content text NOT NULL);
       CREATE TABLE vex.raw_archive () INHERITS (vex.raw_parent);
       INSERT INTO vex.raw_parent SELECT digest, retrieved_at, content FROM vex.raw_documents;
       INSERT INTO vex.raw_archive SELECT digest, retrieved_at + interval '1 hour', content FROM vex.raw_documents LIMIT 1;`,
    );
    expect((await planOver('vex.raw_parent', 'inherited'))._unsafeUnwrapErr().code).toBe('DOCUMENT_INVALID');
  }, 60_000);
});
