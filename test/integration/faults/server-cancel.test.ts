/**
 * A statement the SERVER cancels (SQLSTATE 57014: a role's or database's
 * `statement_timeout`, or another session's `pg_cancel_backend`) is a
 * database error that says so and what to change, never `ABORTED`, the
 * code of the caller's own AbortSignal (exit 130 on the command line, as
 * if the operator had pressed Ctrl-C). Application roles often carry a
 * `statement_timeout` (ALTER ROLE … SET statement_timeout), which a
 * backfill's batches can outlast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { pgErrorToBackfill } from '../../../src/_internals/pg.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../../../src/statements/index.js';
import { cli } from '../cli/cli-harness.js';
import { psql, seedDocuments } from '../statements/helpers.js';

let db: TestDatabase;
/** A connection string whose sessions cancel any statement that runs over 1 ms, as a role's statement_timeout would. */
let shortTimeoutUrl: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // Large documents, so that a batch's claims take the server well over 1 ms to store.
  await seedDocuments(db.url, { seed: 57014, count: 300, formats: ['csaf'], productsPerDocument: 60 });
  // The store's tables exist, as after an earlier run: the cancelled statement is a batch's, not the set-up's.
  const sink = new PgStatementSink({ pg: db.url });
  (await sink.prepare())._unsafeUnwrap();
  await sink.close();
  const url = new URL(db.url);
  url.searchParams.set('options', '-c statement_timeout=1');
  shortTimeoutUrl = url.toString();
}, 120_000);
afterAll(async () => {
  await db.drop();
});

describe('a statement the server cancels', () => {
  it('is DB_ERROR with SQLSTATE 57014, naming statement_timeout and how to raise it', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('SET statement_timeout = 10');
      const cancelled = await client.query('SELECT pg_sleep(5)').then(
        () => undefined,
        (e: unknown) => e,
      );
      const error = pgErrorToBackfill(cancelled);
      expect([error.code, error.dbCode]).toEqual(['DB_ERROR', '57014']);
      expect(error.message).toMatch(/statement_timeout/);
      expect(error.message).toMatch(/ALTER ROLE … SET statement_timeout/);
    } finally {
      await client.end();
    }
  });

  it('stops a statement backfill as DB_ERROR, not as an interrupted run, and keeps what was committed', async () => {
    const pool = new pg.Pool({ connectionString: shortTimeoutUrl, max: 4 });
    try {
      const backfiller = new StatementBackfiller({
        source: new PgRawDocumentSource({ pg: pool }),
        sink: new PgStatementSink({ pg: pool }),
        normalizers: defaultVexNormalizers,
      });
      const result = await backfiller.run({ runId: 'short-timeout', batchSize: 300 });
      const error = result._unsafeUnwrapErr();
      expect([error.code, error.dbCode]).toEqual(['DB_ERROR', '57014']);
      expect(error.message).toMatch(/statement_timeout/);
    } finally {
      await pool.end();
    }
    // Each batch commits whole or not at all: no claims without their checkpoint.
    const checkpointed = psql(
      db.url,
      "SELECT coalesce((SELECT claims_written FROM vex.statement_backfill_checkpoints WHERE run_id = 'short-timeout'), 0)",
    );
    expect(psql(db.url, "SELECT count(*) FROM vex.statements WHERE run_id = 'short-timeout'")).toBe(checkpointed);
  });

  it('ends `statements backfill` with exit 6 (a database error), not 130 (interrupted)', async () => {
    const r = await cli(['statements', 'backfill', '--run-id', 'cli-short-timeout', '--batch-size', '300', '--json'], {
      env: { PGURI: shortTimeoutUrl },
    });
    const out = JSON.parse(r.stdout) as { error: { code: string; dbCode?: string; message: string } };
    expect([r.code, out.error.code, out.error.dbCode]).toEqual([6, 'DB_ERROR', '57014']);
    expect(out.error.message).toMatch(/statement_timeout/);
  });
});
