/**
 * Planning reads the keyspace twice: one pass cuts ranges of `rangeSize`
 * documents, a second cuts the last two again into smaller ranges. A
 * document committed between the two reads, inside the tail, used to push
 * the keyspace's last document out of every range (the second read took a
 * document count), so it was never backfilled. The second read now ends at
 * the first pass's last document.
 *
 * To land the insert between the two reads every time, the raw table is a
 * view whose row filter calls a hook: the first pass (the numbered query
 * without a lower bound) commits one new document inside the tail, as an
 * ingest job would; the scan running the hook does not see it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { psql } from './helpers.js';

let db: TestDatabase;
const base = Date.parse('2025-01-01T00:00:00Z');

beforeAll(async () => {
  db = await createTestDatabase();
  const docs = [...generateVexDocuments({ seed: 11, count: 41, brokenRatio: 0 })];
  await db.query('CREATE SCHEMA ingest');
  await db.query('CREATE TABLE ingest.real (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, content text NOT NULL)');
  // 40 documents a minute apart; the 41st arrives while the plan is cut, at minute 35.5 (inside the tail).
  for (const [i, d] of docs.slice(0, 40).entries())
    await db.query('INSERT INTO ingest.real VALUES ($1, $2, $3)', [d.digest, new Date(base + i * 60_000), d.content]);
  const late = docs[40]!;
  await db.query('CREATE TABLE ingest.late AS SELECT $1::text AS digest, $2::timestamptz AS retrieved_at, $3::text AS content', [
    late.digest,
    new Date(base + 35.5 * 60_000),
    late.content,
  ]);
  await db.query(`CREATE FUNCTION ingest.hook() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      IF current_query() LIKE '%row_number()%' AND current_query() NOT LIKE '%digest) > (%' THEN
        INSERT INTO ingest.real SELECT * FROM ingest.late ON CONFLICT DO NOTHING;
      END IF;
      RETURN true;
    END $$`);
  await db.query('CREATE VIEW ingest.raw AS SELECT digest, retrieved_at, content FROM ingest.real WHERE ingest.hook()');
});
afterAll(async () => {
  await db?.drop();
});

it('a document committed while the plan is cut does not push the last document out of every range', async () => {
  const lastDigest = psql(db.url, 'SELECT digest FROM ingest.real ORDER BY retrieved_at DESC, digest DESC LIMIT 1');
  const config = { connectionString: db.url, tables: { raw: 'ingest.raw' } };
  const plan = (await planBackfill(config, { runId: 'tail', batchSize: 5, rangeSize: 10 }))._unsafeUnwrap();
  expect(psql(db.url, 'SELECT count(*) FROM ingest.real')).toBe('41');
  expect(plan.ranges.at(-1)?.through.digest).toBe(lastDigest);
  (await runBackfillWorker(config, { untilDone: true }))._unsafeUnwrap();
  const report = (await backfillReport(config, 'tail'))._unsafeUnwrap();
  expect(report.state).toBe('completed');
  expect(report.summary.evaluated).toBe(41);
  expect(psql(db.url, `SELECT count(*) FROM vex.statement_documents WHERE document_digest = '${lastDigest}'`)).toBe('1');
}, 60_000);
