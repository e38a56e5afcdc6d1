/**
 * A page (one batch, one transaction) holds at most `batchSize` documents
 * and at most `maxBatchBytes` of content, but always one document: large
 * documents no longer come 100 to a page, which ran a backfill out of heap
 * (and every rerun with it, since nothing was committed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { cli, cliInProcess, jsonOf } from '../cli/cli-harness.js';
import { psql, tablesIn } from './helpers.js';

/** Content bytes of the small documents: 8 of 100 bytes and, fourth in order, one of 500. */
const SIZES = [100, 100, 100, 500, 100, 100, 100, 100];
/** Big documents for the out-of-memory case: together far over the child's heap, each well within it. */
const BIG = { count: 24, bytes: 20_000_000, heapMb: 320 };

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  const rows = SIZES.map((bytes, i) => `('sha256:small-${i}', '2025-10-01T00:00:0${i}Z', '"' || repeat('a', ${bytes - 2}) || '"')`).join(
    ', ',
  );
  psql(
    db.url,
    `CREATE SCHEMA small;
     CREATE TABLE small.raw (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, content text NOT NULL);
     CREATE INDEX ON small.raw (retrieved_at, digest);
     INSERT INTO small.raw VALUES ${rows};
     CREATE SCHEMA big;
     CREATE TABLE big.raw (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, content text NOT NULL);
     CREATE INDEX ON big.raw (retrieved_at, digest);
     INSERT INTO big.raw SELECT 'sha256:big-' || pg_catalog.lpad(i::text, 3, '0'), '2025-10-01'::timestamptz + i * interval '1 s',
       '"' || repeat(chr(97 + i % 26), ${BIG.bytes - 2}) || '"' FROM generate_series(1, ${BIG.count}) i;`,
  );
}, 120_000);
afterAll(async () => {
  await db?.drop();
});

const smallSource = (): PgRawDocumentSource => new PgRawDocumentSource({ pg: db.pool, table: 'small.raw' });

describe('pages bounded in bytes', () => {
  it('a page ends before the document that would take it over maxBytes, and holds one over it alone', async () => {
    const source = smallSource();
    const pages: string[][] = [];
    let after: { retrievedAt: string; digest: string } | undefined;
    for (;;) {
      const page = (await source.readPage({ limit: 100, maxBytes: 250, ...(after === undefined ? {} : { after }) }))._unsafeUnwrap();
      if (page.length === 0) break;
      pages.push(page.map((d) => d.digest.replace('sha256:small-', '')));
      after = page[page.length - 1]?.cursor;
    }
    // 100+100 fit 250, a third would not; the 500-byte one is over it, alone; the document count still bounds a page.
    expect(pages).toEqual([['0', '1'], ['2'], ['3'], ['4', '5'], ['6', '7']]);
    const exact = (await source.readPage({ limit: 100, maxBytes: 300 }))._unsafeUnwrap();
    expect(exact.map((d) => d.content)).toEqual(SIZES.slice(0, 3).map((n) => `"${'a'.repeat(n - 2)}"`));
    expect((await source.readPage({ limit: 2, maxBytes: 10_000 }))._unsafeUnwrap()).toHaveLength(2);
    expect((await source.readPage({ limit: 100, maxBytes: 1 }))._unsafeUnwrap()).toHaveLength(1);
  });

  it('a run cuts its batches by maxBatchBytes, checkpointing after each, with every document evaluated once', async () => {
    const evaluated: number[] = [];
    const run = await new StatementBackfiller({
      source: smallSource(),
      sink: new PgStatementSink({ pg: db.pool, ...tablesIn('small_run') }),
      normalizers: defaultVexNormalizers,
    }).run({ runId: 'small', maxBatchBytes: 250, onProgress: (p) => evaluated.push(p.evaluated) });
    const summary = run._unsafeUnwrap();
    expect(evaluated).toEqual([2, 3, 4, 6, 8]);
    expect(summary.evaluated).toBe(SIZES.length);
    expect(summary.failed.map((f) => f.digest)).toEqual(SIZES.map((_, i) => `sha256:small-${i}`));
    // Without the byte bound the same documents are one batch, with the same outcomes.
    const whole = await new StatementBackfiller({
      source: smallSource(),
      sink: new PgStatementSink({ pg: db.pool, ...tablesIn('small_whole') }),
      normalizers: defaultVexNormalizers,
    }).run({ runId: 'small', onProgress: (p) => evaluated.push(-p.evaluated) });
    expect(evaluated.slice(5)).toEqual([-8]);
    expect(whole._unsafeUnwrap().reportSha256).toBe(summary.reportSha256);
  });

  it('a run with --workers (ranges, read-ahead, a normalizer thread) under --max-batch-bytes reports what one process does', async () => {
    const stores = (schema: string): string[] =>
      ['statements', 'documents', 'checkpoints', 'failures'].flatMap((t) => [`--${t}-table`, `${schema}.${t}`]);
    const common = ['statements', 'backfill', '--pg', db.url, '--raw-table', 'small.raw', '--max-batch-bytes', '250'];
    const one = await cli([...common, '--run-id', 'one', ...stores('cli_one')]);
    const planned = [
      ...stores('cli_two'),
      '--runs-table',
      'cli_two.runs',
      '--ranges-table',
      'cli_two.ranges',
      '--workers-table',
      'cli_two.workers',
    ];
    const two = await cli([...common, '--run-id', 'two', '--workers', '2', '--range-size', '3', ...planned]);
    expect([one.code, two.code], two.stderr).toEqual([4, 4]);
    expect(one.stdout).toMatch(/^Backfill completed: evaluated 8, backfilled 0, claims written 0, skipped 0, failures 8\./);
    expect(two.stdout.replace('run id: two', 'run id: one')).toBe(one.stdout);
    expect(psql(db.url, 'SELECT pg_catalog.sum(evaluated) FROM cli_two.checkpoints')).toBe('8');
  }, 120_000);

  it.each(['0', '-1', '0x40', '1e6'])('--max-batch-bytes %j is refused before anything is read', async (value) => {
    for (const command of [['backfill'], ['worker', '--until-done']]) {
      const r = await cliInProcess(['statements', ...command, `--max-batch-bytes=${value}`, '--json'], { env: { PGURI: db.url } });
      expect(r.code, r.stderr).toBe(2);
      expect(jsonOf(r).error?.message).toMatch(/^--max-batch-bytes must be an integer from 1 to \d+, not /);
    }
  });

  it('the library refuses a maxBatchBytes that is not a positive integer', async () => {
    for (const maxBatchBytes of [0, -1, 1.5, Number.NaN]) {
      const run = await new StatementBackfiller({
        source: smallSource(),
        sink: new PgStatementSink({ pg: db.pool, ...tablesIn('small_refused') }),
        normalizers: defaultVexNormalizers,
      }).run({ maxBatchBytes });
      expect(run._unsafeUnwrapErr().message).toMatch(/^maxBatchBytes must be an integer from 1 to /);
    }
  });

  it(`${BIG.count} documents of ${BIG.bytes / 1e6} MB each go through a CLI with a ${BIG.heapMb} MB heap, every one evaluated`, async () => {
    const run = await cli(['statements', 'backfill', '--pg', db.url, '--raw-table', 'big.raw', '--run-id', 'big'], {
      nodeOptions: [`--max-old-space-size=${BIG.heapMb}`],
    });
    expect(run.stderr).not.toMatch(/heap out of memory/);
    // Each document is a JSON string, no VEX format: each fails on its own, recorded.
    expect(run.code, run.stderr.slice(-2000)).toBe(4);
    expect(run.stdout).toMatch(new RegExp(`backfilled 0, .*failures ${BIG.count}\\.`));
    expect(psql(db.url, `SELECT evaluated, failures, completed FROM vex.statement_backfill_checkpoints WHERE run_id = 'big'`)).toBe(
      `${BIG.count}|${BIG.count}|t`,
    );
  }, 120_000);
});
