/**
 * `maxDocuments` on a planned run bounds what the run evaluates, even when
 * documents arrive between the plan and the workers. The plan fixes each
 * range's bounds; under `maxDocuments` each range also stops after the
 * documents it was planned with, so a document inserted into a range since
 * takes the place of the range's last one instead of taking the run past
 * `maxDocuments` (it used to report `maxDocuments: 20` and 21 evaluated).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { inProcessingOrder, psql, seedDocuments } from './helpers.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

it('a planned run with maxDocuments never evaluates more, though documents are inserted into its ranges after the plan', async () => {
  const docs = inProcessingOrder(await seedDocuments(db.url, { seed: 23, count: 30, brokenRatio: 0 }));
  const config = { connectionString: db.url };
  const plan = (await planBackfill(config, { runId: 'max', batchSize: 5, rangeSize: 10, maxDocuments: 20 }))._unsafeUnwrap();
  expect(plan.documents).toBe(20);
  // Arrives after the plan, first in keyspace order: inside the first range.
  const first = docs[0]!;
  const source = new PgRawDocumentSource({ pg: db.url });
  (await source.append([{ digest: `sha256:${'0'.repeat(64)}`, retrievedAt: first.retrievedAt, content: first.content }]))._unsafeUnwrap();
  await source.close();

  (await runBackfillWorker(config, { untilDone: true }))._unsafeUnwrap();
  const report = (await backfillReport(config, 'max'))._unsafeUnwrap();
  expect(report.state).toBe('completed');
  expect(report.summary.evaluated).toBe(20);
  expect(report.summary.report.options.maxDocuments).toBe(20);
  expect(psql(db.url, 'SELECT count(*) FROM vex.statement_documents')).toBe('20');
  // The new document took the first range's last planned place; the second range is as planned.
  const backfilled = psql(db.url, 'SELECT document_digest FROM vex.statement_documents').split('\n');
  expect(backfilled).toContain(`sha256:${'0'.repeat(64)}`);
  expect(backfilled).not.toContain(docs[9]!.digest);
  expect(backfilled).toEqual(expect.arrayContaining(docs.slice(10, 20).map((d) => d.digest)));
}, 60_000);
