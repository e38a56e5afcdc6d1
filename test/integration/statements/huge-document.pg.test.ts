/**
 * A raw document larger than a JavaScript string can hold (536,870,888
 * UTF-16 units; PostgreSQL text holds up to 1 GB) fails on its own with
 * DOCUMENT_INVALID naming it, its size and the limit, instead of crashing
 * node-postgres' parser: in a text column (sent as is), a bytea column
 * (sent as hex, so half the bytes) and a jsonb column (sent as its text form).
 */
import { constants } from 'node:buffer';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { cli } from '../cli/cli-harness.js';
import { psql, seedDocuments } from './helpers.js';

const MAX_BYTEA_BYTES = (constants.MAX_STRING_LENGTH - 2) / 2;
/** Under `bytea_output = escape` a byte may take 4 characters (`\\001`). */
const MAX_ESCAPED_BYTEA_BYTES = Math.floor(constants.MAX_STRING_LENGTH / 4);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 1, count: 10, brokenRatio: 0 });
  psql(
    db.url,
    `INSERT INTO vex.raw_documents VALUES ('sha256:huge', '2025-10-01T00:00:01.5Z', '{"x":"' || repeat('a', 540000000) || '"}');
     CREATE SCHEMA huge;
     CREATE TABLE huge.bytea_documents AS SELECT digest, retrieved_at, convert_to(content, 'UTF8') AS content FROM vex.raw_documents WHERE digest <> 'sha256:huge';
     INSERT INTO huge.bytea_documents VALUES ('sha256:huge-bytea', '2025-10-01T00:00:01.5Z', convert_to(repeat('a', ${MAX_BYTEA_BYTES + 1}), 'UTF8'));
     CREATE TABLE huge.escaped_documents AS SELECT * FROM huge.bytea_documents WHERE digest <> 'sha256:huge-bytea';
     INSERT INTO huge.escaped_documents VALUES ('sha256:huge-escaped', '2025-10-01T00:00:01.5Z', decode(repeat('01', ${MAX_ESCAPED_BYTEA_BYTES + 1}), 'hex'));
     CREATE TABLE huge.jsonb_documents (digest text, retrieved_at timestamptz, content jsonb);
     INSERT INTO huge.jsonb_documents VALUES ('sha256:huge-jsonb', '2025-10-01T00:00:01.5Z', ('[' || repeat('1e131071,', 4096) || '1e131071]')::jsonb);`,
  );
}, 120_000);
afterAll(async () => {
  await db?.drop();
});

describe('a raw document larger than a JavaScript string can hold', () => {
  it('fails on its own with DOCUMENT_INVALID naming it, its size and the limit; the run goes on', async () => {
    const run = await cli(['statements', 'backfill', '--pg', db.url, '--run-id', 'huge']);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.code, run.stderr).toBe(4);
    expect(run.stdout).toMatch(/backfilled 10, .* failures 1\./);
    expect(run.stdout).toMatch(
      /sha256:huge.*DOCUMENT_INVALID.*540000008 bytes, more than the 536870888 bytes.*Remove it from "vex"."raw_documents"/,
    );
    const stopped = await cli(['statements', 'backfill', '--pg', db.url, '--run-id', 'huge-stop', '--force', '--stop-on-error']);
    expect(stopped.stderr).toMatch(/sha256:huge.*540000008 bytes/);
    expect(stopped.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('in a bytea column (sent as hex) fails alike with and without normalizer threads', async () => {
    const backfill = async (schema: string, threads?: NormalizerThreads) =>
      (
        await new StatementBackfiller({
          source: new PgRawDocumentSource({ pg: db.pool, table: 'huge.bytea_documents' }),
          sink: new PgStatementSink({
            pg: db.pool,
            statementsTable: `${schema}.statements`,
            documentsTable: `${schema}.documents`,
            checkpointsTable: `${schema}.checkpoints`,
            failuresTable: `${schema}.failures`,
          }),
          normalizers: defaultVexNormalizers,
          ...(threads === undefined ? {} : { normalizerThreads: threads }),
        }).run({ runId: 'b', batchSize: 4 })
      )._unsafeUnwrap();
    const alone = await backfill('bytea_alone');
    await using threads = new NormalizerThreads({ threads: 1 });
    await threads.start();
    const shared = await backfill('bytea_shared', threads);
    expect(alone.backfilled).toBe(10);
    expect(alone.failed).toEqual([
      {
        digest: 'sha256:huge-bytea',
        code: 'DOCUMENT_INVALID',
        message: expect.stringMatching(/268435444 bytes, more than the 268435443 bytes.*hex/),
      },
    ]);
    expect(shared.reportSha256).toBe(alone.reportSha256);
    expect(shared.failed).toEqual(alone.failed);
  }, 120_000);

  it('in a bytea column read with bytea_output = escape (up to 4 characters per byte) fails before node-postgres receives it', async () => {
    const escaped = new pg.Pool({ connectionString: db.url, options: '-c bytea_output=escape', max: 1 });
    try {
      const read = async (pool: pg.Pool, table: string) =>
        (await new PgRawDocumentSource({ pg: pool, table }).readPage({ limit: 20 }))._unsafeUnwrap();
      const docs = await read(escaped, 'huge.escaped_documents');
      expect((await escaped.query('SHOW bytea_output')).rows[0]).toEqual({ bytea_output: 'escape' });
      const huge = docs.find((d) => d.digest === 'sha256:huge-escaped');
      expect(huge?.content).toBe('');
      expect(huge?.unreadable).toMatch(/134217723 bytes, more than the 134217722 bytes.*bytea_output = hex/);
      // The others read as they do with hex (from the table they were copied from).
      const others = (await read(db.pool, 'huge.bytea_documents')).filter((d) => d.unreadable === undefined);
      expect(others).toHaveLength(10);
      expect(docs.filter((d) => d.unreadable === undefined)).toEqual(others);
    } finally {
      await escaped.end();
    }
  }, 120_000);

  it('in a jsonb column is measured by its text form', async () => {
    const source = new PgRawDocumentSource({ pg: db.pool, table: 'huge.jsonb_documents' });
    const [doc] = (await source.readPage({ limit: 10 }))._unsafeUnwrap();
    expect(doc?.content).toBe('');
    expect(doc?.unreadable).toMatch(/537010178 bytes, more than the 536870888 bytes/);
  }, 120_000);
});
