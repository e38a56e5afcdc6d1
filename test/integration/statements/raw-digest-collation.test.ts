/**
 * A raw documents table whose `digest` column has a nondeterministic
 * collation (an ICU one that ignores case) finds `sha256:ab…` and
 * `SHA256:AB…` equal. Keyset pages compare `(retrieved_at, digest)` with
 * `>`, so a page that ended on one of them skipped the others retrieved at
 * the same time: with a batch size of 1 a run evaluated half the documents
 * and reported "completed". Such a column is now refused before anything
 * is read, by a run and by a plan, naming the collation and the fix; with
 * a deterministic collation every copy is read, whatever the batch size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../../../src/statements/index.js';
import { psql, seedDocuments, tablesIn } from './helpers.js';

let db: TestDatabase;
let icu: string | undefined;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 5, count: 4, brokenRatio: 0 });
  try {
    await db.query(`CREATE COLLATION public.caseless (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`);
  } catch (error) {
    icu = (error as Error).message;
  }
});
afterAll(async () => {
  await db?.drop();
});

function backfill(schema: string, batchSize: number) {
  return new StatementBackfiller({
    source: new PgRawDocumentSource({ pg: db.pool, table: 'raw.docs' }),
    sink: new PgStatementSink({ pg: db.pool, ...tablesIn(schema) }),
    normalizers: defaultVexNormalizers,
  }).run({ batchSize });
}

describe('the digest column of a raw documents table', () => {
  it('of a nondeterministic collation is refused before any page; a deterministic one reads every copy at any batch size', async (ctx) => {
    if (icu !== undefined) ctx.skip(`skipped: this PostgreSQL has no ICU collations: ${icu}`);
    await db.query('CREATE SCHEMA raw');
    await db.query(
      'CREATE TABLE raw.docs (digest text COLLATE public.caseless NOT NULL, retrieved_at timestamptz NOT NULL, content text NOT NULL)',
    );
    await db.query('CREATE INDEX ON raw.docs (retrieved_at, digest)');
    // Each document twice, at the same time, under digests that differ only in case.
    await db.query('INSERT INTO raw.docs SELECT digest, retrieved_at, content FROM vex.raw_documents');
    await db.query('INSERT INTO raw.docs SELECT upper(digest), retrieved_at, content FROM vex.raw_documents');

    const error = (await backfill('s_one', 1))._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('"raw"."docs": column digest has the nondeterministic collation');
    expect(error.message).toContain('ALTER TABLE "raw"."docs" ALTER COLUMN digest TYPE text COLLATE "C"');
    expect(psql(db.url, `SELECT to_regclass('s_one.documents') IS NULL OR (SELECT count(*) = 0 FROM s_one.documents)`)).toBe('t');
    const planned = await planBackfill({ connectionString: db.url, tables: { raw: 'raw.docs', runs: 'p.runs' } }, { runId: 'caseless' });
    expect(planned._unsafeUnwrapErr().message).toContain('column digest has the nondeterministic collation');

    await db.query('ALTER TABLE raw.docs ALTER COLUMN digest TYPE text COLLATE "C"');
    for (const batchSize of [1, 3, 100]) {
      const summary = (await backfill(`s_${batchSize}`, batchSize))._unsafeUnwrap();
      expect(summary.evaluated, `batch size ${batchSize}`).toBe(8);
    }
  });
});
