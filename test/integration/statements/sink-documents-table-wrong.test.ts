/**
 * A statement sink pointed at an existing table that is not a documents
 * table (`documentsTable` / `--documents-table` naming the wrong table)
 * failed with PostgreSQL's own `column "document_digest" does not exist`,
 * naming neither the table nor what to do. The digest column check that
 * `prepare()`, a first `existingDigests` and a first `commitBatch` run now
 * refuses it (`INVALID_ARGUMENT`, exit 2 in the CLI) naming the table, the
 * missing column and the flag to check; nothing is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgStatementSink, type StatementBatch } from '../../../src/statements/index.js';
import { cli } from '../cli/cli-harness.js';
import { seedDocuments } from './helpers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 3, count: 10, brokenRatio: 0 });
  await db.query('CREATE SCHEMA wrong');
  // Someone else's table, with a digest column of another name.
  await db.query(`CREATE TABLE wrong.docs (digest text PRIMARY KEY, format text, claims integer, run_id text)`);
  // The sink's other tables exist (a sink prepared with the right documents table made them): only the documents table is wrong.
  (await new PgStatementSink({ pg: db.pool, documentsTable: 'right.docs' }).prepare())._unsafeUnwrap();
});
afterAll(async () => {
  await db?.drop();
});

const documents = '"wrong"."docs"';
const batch: StatementBatch = {
  runId: 'wrong-docs',
  force: false,
  documents: [{ digest: 'sha256:aa', format: 'openvex', claims: [] }],
  failures: [],
  checkpoint: {
    runId: 'wrong-docs',
    cursor: null,
    counters: { evaluated: 1, backfilled: 1, claimsWritten: 0, skipped: 0, failures: 0 },
    options: { retrievedSince: null, force: false, maxDocuments: null },
    outcomeSha256: '0'.repeat(64),
    completed: false,
  },
};

describe('a statement documents table without a document_digest column', () => {
  it.for(['prepare', 'existingDigests', 'commitBatch'] as const)(
    'is refused by %s naming the table, the column and the flag, not by PostgreSQL',
    async (method) => {
      const sink = new PgStatementSink({ pg: db.pool, documentsTable: 'wrong.docs' });
      const result =
        method === 'prepare'
          ? await sink.prepare()
          : method === 'existingDigests'
            ? await sink.existingDigests(['sha256:aa'])
            : await sink.commitBatch(batch);
      const error = result._unsafeUnwrapErr();
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(
        `${documents} has no column document_digest: a documents table has (document_digest text PRIMARY KEY`,
      );
      expect(error.message).toContain('Check --documents-table');
      expect(error.message).not.toContain('column "document_digest" does not exist');
      expect(error.context).toMatchObject({ table: documents, column: 'document_digest' });
    },
  );

  it('statements backfill --documents-table naming it exits 2 with that message, writing nothing', { timeout: 60_000 }, async () => {
    const r = await cli(['statements', 'backfill', '--documents-table', 'wrong.docs'], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`error INVALID_ARGUMENT: ${documents} has no column document_digest:`);
    expect(r.stderr).toContain('Check --documents-table');
    expect(r.stderr).not.toContain('column "document_digest" does not exist');
    expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM wrong.docs'))[0]!.n).toBe(0);
  });
});
