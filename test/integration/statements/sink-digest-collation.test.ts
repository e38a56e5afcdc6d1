/**
 * A statement documents table created beforehand (`vex.statement_documents`,
 * `--documents-table`) whose `document_digest` column compares otherwise
 * than text: of a nondeterministic collation (an ICU one that ignores
 * case), `existingDigests` found a document recorded under a digest
 * differing only in case already backfilled, so a run skipped it without
 * a word and reported "completed"; of type `citext`, the table's primary
 * key took the two digests for one, so the document's record overwrote the
 * other's and it was never recorded itself. Such a column is now
 * refused (`INVALID_ARGUMENT` naming the ALTER that fixes it) by
 * `prepare()` and, for a sink never prepared (a worker's), by its first
 * `existingDigests`; converted, every document is backfilled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../../../src/statements/index.js';
import { caseIgnoringTypes, seedDocuments, tablesIn } from './helpers.js';

let db: TestDatabase;
/** Why a case cannot run on this server, by the column type it needs. */
let missing: ReadonlyMap<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 9, count: 20, brokenRatio: 0 });
  missing = await caseIgnoringTypes(db);
});
afterAll(async () => {
  await db?.drop();
});

describe('the document_digest column of a statement documents table', () => {
  it.for([
    { name: 'caseless', type: 'text COLLATE public.caseless', refused: 'has the nondeterministic collation caseless' },
    { name: 'citext', type: 'public.citext', refused: 'is citext, not text or varchar' },
  ])('of $name is refused by prepare() and a first existingDigests; converted, no document is skipped', async (c, ctx) => {
    const why = missing.get(c.name);
    if (why !== undefined) ctx.skip(`skipped: this PostgreSQL cannot make a ${c.name} column: ${why}`);
    const schema = `sink_${c.name}`;
    const documents = `"${schema}"."documents"`;
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.documents (document_digest ${c.type} PRIMARY KEY, format text NOT NULL,
      claims integer NOT NULL, run_id text NOT NULL, backfilled_at timestamptz NOT NULL DEFAULT now())`);
    // Other documents, backfilled earlier, whose digests differ from the raw ones only in case.
    await db.query(`INSERT INTO ${schema}.documents (document_digest, format, claims, run_id)
      SELECT upper(digest), 'openvex', 0, 'earlier' FROM vex.raw_documents`);
    const sink = new PgStatementSink({ pg: db.pool, ...tablesIn(schema) });
    const digests = (await db.query<{ digest: string }>('SELECT digest FROM vex.raw_documents')).map((r) => r.digest);

    for (const error of [
      (await new PgStatementSink({ pg: db.pool, ...tablesIn(schema) }).existingDigests(digests))._unsafeUnwrapErr(),
      (await sink.prepare())._unsafeUnwrapErr(),
    ]) {
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(`${documents}: column document_digest ${c.refused}`);
      expect(error.message).toContain(`ALTER TABLE ${documents} ALTER COLUMN document_digest TYPE text COLLATE "C"`);
    }

    await db.query(`ALTER TABLE ${documents} ALTER COLUMN document_digest TYPE text COLLATE "C"`);
    const fixed = new PgStatementSink({ pg: db.pool, ...tablesIn(schema) });
    (await fixed.prepare())._unsafeUnwrap();
    expect((await fixed.existingDigests(digests))._unsafeUnwrap().size).toBe(0);
    const summary = (
      await new StatementBackfiller({
        source: new PgRawDocumentSource({ pg: db.pool }),
        sink: fixed,
        normalizers: defaultVexNormalizers,
      }).run({ batchSize: 7 })
    )._unsafeUnwrap();
    expect(summary.evaluated).toBe(20);
    expect(summary.skipped).toBe(0);
  });
});
