/**
 * A raw documents table whose `digest` column compares otherwise than the
 * text a cursor holds. Of a nondeterministic collation (an ICU one that
 * ignores case), it finds `sha256:ab…` and `SHA256:AB…` equal: keyset
 * pages compare `(retrieved_at, digest)` with `>`, so a page that ended on
 * one of them skipped the others retrieved at the same time, and with a
 * batch size of 1 a run evaluated half the documents and reported
 * "completed". Of type `citext`, pages were ordered ignoring case while
 * the cursor compared as text, so runs skipped or repeated documents,
 * depending on the batch size. Such a column is now refused before
 * anything is read, by a run and by a plan, naming the fix; converted,
 * every document is read once, whatever the batch size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../../../src/statements/index.js';
import { caseIgnoringTypes, psql, seedDocuments, tablesIn } from './helpers.js';

let db: TestDatabase;
/** Why a case cannot run on this server, by the column type it needs. */
let missing: ReadonlyMap<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 5, count: 20, brokenRatio: 0 });
  missing = await caseIgnoringTypes(db);
});
afterAll(async () => {
  await db?.drop();
});

function backfill(table: string, schema: string, batchSize: number) {
  return new StatementBackfiller({
    source: new PgRawDocumentSource({ pg: db.pool, table }),
    sink: new PgStatementSink({ pg: db.pool, ...tablesIn(schema) }),
    normalizers: defaultVexNormalizers,
  }).run({ batchSize });
}

describe('the digest column of a raw documents table', () => {
  it.for([
    {
      name: 'caseless',
      type: 'text COLLATE public.caseless',
      // Each document twice, under digests that differ only in case.
      rows: `SELECT digest, retrieved_at, content FROM vex.raw_documents UNION ALL SELECT upper(digest), retrieved_at, content FROM vex.raw_documents`,
      documents: 40,
      refused: 'column digest has the nondeterministic collation',
      fix: 'ALTER COLUMN digest TYPE text COLLATE "C"',
    },
    {
      name: 'citext',
      type: 'public.citext',
      // Every other digest in upper case, all retrieved at the same moment.
      rows: `SELECT CASE WHEN n % 2 = 0 THEN upper(digest) ELSE digest END, '2025-01-01T00:00:00Z', content
               FROM (SELECT pg_catalog.row_number() OVER (ORDER BY digest) AS n, * FROM vex.raw_documents) t`,
      documents: 20,
      refused: 'column digest is citext, not text or varchar',
      fix: 'ALTER COLUMN digest TYPE text',
    },
  ])('of $name is refused before any page; converted, every document is read once at any batch size', async (c, ctx) => {
    const why = missing.get(c.name);
    if (why !== undefined) ctx.skip(`skipped: this PostgreSQL cannot make a ${c.name} column: ${why}`);
    const table = `raw_${c.name}.docs`;
    await db.query(`CREATE SCHEMA raw_${c.name}`);
    await db.query(`CREATE TABLE ${table} (digest ${c.type} NOT NULL, retrieved_at timestamptz NOT NULL, content text NOT NULL)`);
    await db.query(`CREATE INDEX ON ${table} (retrieved_at, digest)`);
    await db.query(`INSERT INTO ${table} ${c.rows}`);

    const error = (await backfill(table, `${c.name}_refused`, 1))._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(`"raw_${c.name}"."docs": ${c.refused}`);
    expect(error.message).toContain(`ALTER TABLE "raw_${c.name}"."docs" ${c.fix}`);
    const written = `SELECT to_regclass('${c.name}_refused.documents') IS NULL OR (SELECT count(*) = 0 FROM ${c.name}_refused.documents)`;
    expect(psql(db.url, written)).toBe('t');
    const planned = await planBackfill({ connectionString: db.url, tables: { raw: table, runs: `p_${c.name}.runs` } }, { runId: c.name });
    expect(planned._unsafeUnwrapErr().message).toContain(c.refused);

    await db.query(`ALTER TABLE ${table} ${c.fix}`);
    for (const batchSize of [1, 3, 7, 100]) {
      const summary = (await backfill(table, `${c.name}_${batchSize}`, batchSize))._unsafeUnwrap();
      expect(summary.evaluated, `batch size ${batchSize}`).toBe(c.documents);
      expect(summary.skipped, `batch size ${batchSize}`).toBe(0);
    }
  });
});
