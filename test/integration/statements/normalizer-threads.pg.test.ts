/**
 * Normalizer threads in a real backfill, against real PostgreSQL: a run
 * with threads writes the statements and reports the hash of a run
 * without them, stops at the same document under stopOnError, and loses
 * nothing when its threads end mid-run. `statements backfill --workers 2`
 * (one job-engine worker and a normalizer thread) ends with the
 * single-process report, under Node options that hold for the whole process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller, type StatementBackfillOptions } from '../../../src/statements/statement-backfiller.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { dumpStatements, psql, seedDocuments } from './helpers.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 53, count: 900, brokenRatio: 0.05 });
});
afterAll(async () => {
  await db.drop();
});

/** A backfill into its own tables (`schema`.statements …), with threads or without. */
async function backfill(schema: string, options: StatementBackfillOptions, threads?: NormalizerThreads, table?: string) {
  const sink = new PgStatementSink({
    pg: db.pool,
    statementsTable: `${schema}.statements`,
    documentsTable: `${schema}.documents`,
    checkpointsTable: `${schema}.checkpoints`,
    failuresTable: `${schema}.failures`,
  });
  const bf = new StatementBackfiller({
    source: new PgRawDocumentSource({ pg: db.pool, ...(table === undefined ? {} : { table }) }),
    sink,
    normalizers: defaultVexNormalizers,
    ...(threads === undefined ? {} : { normalizerThreads: threads }),
  });
  return bf.run({ batchSize: 40, ...options });
}

describe('a backfill with normalizer threads', () => {
  it('writes the statements and the report of a run without threads', async () => {
    const alone = (await backfill('alone', { runId: 'r' }))._unsafeUnwrap();
    await using threads = new NormalizerThreads({ threads: 2 });
    await threads.start();
    const shared = (await backfill('shared', { runId: 'r' }, threads))._unsafeUnwrap();
    expect(threads.documentsByThreads, 'the threads took part').toBeGreaterThan(0);
    expect(shared.text).toBe(alone.text);
    expect(shared.reportSha256).toBe(alone.reportSha256);
    expect(dumpStatements(db.url, 'shared.statements')).toBe(dumpStatements(db.url, 'alone.statements'));
  }, 120_000);

  it('stops at the same first failing document under stopOnError, with the same committed part', async () => {
    const alone = (await backfill('stop_alone', { runId: 's', stopOnError: true }))._unsafeUnwrapErr();
    await using threads = new NormalizerThreads({ threads: 1 });
    await threads.start();
    const shared = (await backfill('stop_shared', { runId: 's', stopOnError: true }, threads))._unsafeUnwrapErr();
    expect(shared.code).toBe(alone.code);
    expect(shared.context['digest']).toBe(alone.context['digest']);
    expect(shared.partial?.reportSha256).toBe(alone.partial?.reportSha256);
    expect(dumpStatements(db.url, 'stop_shared.statements')).toBe(dumpStatements(db.url, 'stop_alone.statements'));
  }, 120_000);

  it('loses nothing when its threads end mid-run: the backfill normalizes the rest itself', async () => {
    const alone = (await backfill('end_alone', { runId: 'e' }))._unsafeUnwrap();
    const threads = new NormalizerThreads({ threads: 1 });
    await threads.start();
    // The threads end at the first batch after they have answered for some documents (when that is depends on the
    // machine's load), and batches go on after it.
    let ended: Promise<void> | undefined;
    let batchesAfter = 0;
    const endThreads = (): void => {
      if (ended !== undefined) batchesAfter += 1;
      else if (threads.documentsByThreads > 0) ended = threads.close();
    };
    const cut = (await backfill('end_cut', { runId: 'e', onProgress: endThreads }, threads))._unsafeUnwrap();
    const endedMidRun = ended !== undefined;
    await (ended ?? threads.close());
    expect(endedMidRun, 'the threads answered for some documents before the last batch').toBe(true);
    expect(batchesAfter, 'batches were normalized after the threads ended').toBeGreaterThan(0);
    expect(cut.reportSha256).toBe(alone.reportSha256);
    expect(dumpStatements(db.url, 'end_cut.statements')).toBe(dumpStatements(db.url, 'end_alone.statements'));
  }, 120_000);
});

describe('a backfill with normalizer threads over jsonb content', () => {
  it('normalizes documents nested thousands of levels deep with the report of a run without threads', async () => {
    // PostgreSQL takes jsonb thousands of levels deep; a structured clone of the parsed object would not (about 3000 here): it goes as text.
    const branches = `repeat('[{"name":"b","branches":', 5000) || '[{"product":{"product_id":"P","name":"p"}}]' || repeat('}]', 5000)`;
    psql(
      db.url,
      `create schema deep_raw;
       create table deep_raw.documents (digest text primary key, retrieved_at timestamptz not null, content jsonb not null);
       insert into deep_raw.documents
         select 'sha256:deep' || i, '2024-01-01'::timestamptz + i * interval '1 s',
           ('{"document":{"csaf_version":"2.0"},"product_tree":{"branches":' || ${branches} ||
            '},"vulnerabilities":[{"cve":"CVE-2024-' || lpad(i::text, 4, '0') || '","product_status":{"fixed":["P"]}}]}')::jsonb
         from generate_series(1, 60) i;`,
    );
    const alone = (await backfill('deep_alone', { runId: 'j' }, undefined, 'deep_raw.documents'))._unsafeUnwrap();
    await using threads = new NormalizerThreads({ threads: 1 });
    await threads.start();
    const shared = (await backfill('deep_shared', { runId: 'j' }, threads, 'deep_raw.documents'))._unsafeUnwrap();
    expect(alone.backfilled).toBe(60);
    expect(shared.text).toBe(alone.text);
    expect(shared.reportSha256).toBe(alone.reportSha256);
    expect(dumpStatements(db.url, 'deep_shared.statements')).toBe(dumpStatements(db.url, 'deep_alone.statements'));
  }, 120_000);
});

describe('statements backfill --workers', () => {
  it('--workers 2 ends with the single-process report, under Node options that hold for the whole process', async () => {
    const tables = (schema: string): string[] =>
      ['statements', 'documents', 'checkpoints', 'failures'].flatMap((t) => [`--${t}-table`, `${schema}.${t}`]);
    const one = jsonOf(
      await cli(['statements', 'backfill', '--run-id', 'one', ...tables('cli_one'), '--json'], { env: { PGURI: db.url } }),
    );
    const run = await cli(
      [
        'statements',
        'backfill',
        '--run-id',
        'two',
        '--workers',
        '2',
        '--range-size',
        '200',
        ...tables('cli_two'),
        '--json',
        '--pg',
        db.url,
      ],
      { nodeOptions: ['--max-old-space-size=1024'] },
    );
    expect(run.stderr).not.toMatch(/thread died|invalid execArgv/);
    expect(run.code, run.stderr).toBe(4); // completed, with the seed's broken documents as failures
    const report = JSON.parse(run.stdout).report;
    expect(report.state).toBe('completed');
    expect(report.summary.text).toBe(one.report.text);
    expect(report.summary.reportSha256).toBe(one.report.reportSha256);
    expect(dumpStatements(db.url, 'cli_two.statements')).toBe(dumpStatements(db.url, 'cli_one.statements'));
  }, 180_000);

  it('a worker whose signal fired before it started returns at once (it used to wait for the run forever)', async () => {
    const stopped = new AbortController();
    stopped.abort();
    const started = Date.now();
    const done = await runBackfillWorker({ connectionString: db.url }, { untilDone: true, runId: 'never-planned', signal: stopped.signal });
    expect(done._unsafeUnwrap().ranges).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});
