/**
 * Raw documents whose retrieved_at PostgreSQL accepts but a keyset cursor
 * cannot write down ('-infinity', 'infinity', dates before year 1). Before
 * the check, a run over them reported "completed" with documents unread.
 * Now the first page and planning refuse the table, naming a document, and
 * nothing is written; such a document stored during a run stops the run
 * when its page is read.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../../../src/statements/index.js';
import { psql, seedDocuments } from './helpers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  await db.query('DROP SCHEMA IF EXISTS vex CASCADE');
  await seedDocuments(db.url, { seed: 3, count: 300, brokenRatio: 0 });
});

/** Gives the first (or last) document in keyset order the time `value`; returns its digest. */
async function setTime(value: string, end: 'first' | 'last'): Promise<string> {
  const order = end === 'first' ? 'retrieved_at, digest' : 'retrieved_at DESC, digest DESC';
  const [row] = await db.query<{ digest: string }>(
    `UPDATE vex.raw_documents SET retrieved_at = $1::timestamptz
      WHERE digest = (SELECT digest FROM vex.raw_documents ORDER BY ${order} LIMIT 1) RETURNING digest`,
    [value],
  );
  return row!.digest;
}

async function backfill(batchSize: number) {
  const backfiller = new StatementBackfiller({
    source: new PgRawDocumentSource({ pg: db.pool }),
    sink: new PgStatementSink({ pg: db.pool }),
    normalizers: defaultVexNormalizers,
  });
  return backfiller.run({ batchSize });
}

const storedDocuments = (): number => Number(psql(db.url, 'SELECT count(*) FROM vex.statement_documents'));

describe('retrieved_at values a cursor cannot hold', () => {
  for (const [label, value, end] of [
    ['-infinity', '-infinity', 'first'],
    ['infinity', 'infinity', 'last'],
    ['a date before year 1', '0044-03-15 00:00:00+00 BC', 'first'],
  ] as const) {
    it(`a run over a table with ${label} is refused before any batch, naming the document`, async () => {
      const digest = await setTime(value, end);
      const result = await backfill(1);
      expect(result.isErr()).toBe(true);
      const error = result._unsafeUnwrapErr();
      expect(error.code).toBe('DOCUMENT_INVALID');
      expect(error.message).toContain(digest);
      expect(error.message).toContain('set retrieved_at');
      expect(error.context).toMatchObject({ table: '"vex"."raw_documents"', digest, count: 1 });
      expect(
        psql(db.url, "SELECT to_regclass('vex.statement_documents') IS NULL OR (SELECT count(*) = 0 FROM vex.statement_documents)"),
      ).toBe('t');
    });
  }

  it('planning a run over such a table is refused the same way, and nothing is planned', async () => {
    const first = await setTime('-infinity', 'first');
    await setTime('0001-01-01 00:00:00+00 BC', 'last');
    const planned = await planBackfill({ connectionString: db.url }, { runId: 'minus-infinity', rangeSize: 1 });
    expect(planned.isErr()).toBe(true);
    const error = planned._unsafeUnwrapErr();
    expect(error.code).toBe('DOCUMENT_INVALID');
    expect(error.context).toMatchObject({ digest: first, count: 2 });
  });

  it('documents given such a time during a run stop it when their page is read, with nothing after them left unread', async () => {
    // The table was checked on the run's first page; these come after it. The first ends a page (301 = 7 × 43),
    // and a cursor on it read no page after: the second was left unread and the run "completed".
    const backfiller = new StatementBackfiller({
      source: new PgRawDocumentSource({ pg: db.pool }),
      sink: new PgStatementSink({ pg: db.pool }),
      normalizers: defaultVexNormalizers,
    });
    let added = false;
    const result = await backfiller.run({
      batchSize: 43,
      throttle: async () => {
        if (added) return;
        added = true;
        await db.query(`INSERT INTO vex.raw_documents (digest, retrieved_at, content)
          SELECT 'sha256:late-' || n, 'infinity', (SELECT content FROM vex.raw_documents LIMIT 1) FROM pg_catalog.generate_series(1, 2) n`);
      },
    });
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('DOCUMENT_INVALID');
    expect(error.message).toContain('sha256:late-1 (infinity)');
    expect(error.message).toContain('set retrieved_at');
    expect(error.partial?.evaluated).toBe(258);
  });

  it('the first and last moments a cursor can hold are read in full', async () => {
    await setTime('0001-01-01 00:00:00+00', 'first');
    await setTime('9999-12-31 23:59:59.999999+00', 'last');
    const summary = (await backfill(1))._unsafeUnwrap();
    expect(summary.evaluated).toBe(300);
    expect(storedDocuments()).toBe(300);
  });
});

describe('a retrieved_at column without a time zone', () => {
  // Cursors are written in UTC; a `timestamp` column is compared in the
  // session's TimeZone, so outside UTC every page started hours back.
  beforeEach(async () => {
    await db.query("ALTER TABLE vex.raw_documents ALTER COLUMN retrieved_at TYPE timestamp USING retrieved_at AT TIME ZONE 'UTC'");
  });

  const expectRefusal = (error: { code: string; message: string; context?: unknown }) => {
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('retrieved_at is timestamp without time zone');
    expect(error.message).toContain("ALTER COLUMN retrieved_at TYPE timestamptz USING retrieved_at AT TIME ZONE 'UTC'");
    expect(error.context).toMatchObject({ column: 'retrieved_at', type: 'timestamp without time zone' });
  };

  it('a run is refused before any batch, naming the column, its type and the fix', async () => {
    const result = await backfill(50);
    expectRefusal(result._unsafeUnwrapErr());
    expect(
      psql(db.url, "SELECT to_regclass('vex.statement_documents') IS NULL OR (SELECT count(*) = 0 FROM vex.statement_documents)"),
    ).toBe('t');
  });

  it('planning is refused the same way', async () => {
    const planned = await planBackfill({ connectionString: db.url }, { runId: 'timestamp-column', rangeSize: 50 });
    expectRefusal(planned._unsafeUnwrapErr());
  });
});
