/**
 * The distributed statement backfill in one process against real
 * PostgreSQL and pg-boss: plan, workers, report, compared with a
 * single-process run over the same documents.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { backfillSingleProcess, dumpStatements, psql, seedDocuments } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { backfillProgress } from '../../../src/statements/distributed-progress.js';
import type { BackfillSummary } from '../../../src/statements/summary.js';

let single: TestDatabase;
let spread: TestDatabase;
const seed = { seed: 19, count: 900, brokenRatio: 0.04 };

async function singleProcess(
  url: string,
  options: { runId: string; maxDocuments?: number; stopOnError?: boolean },
): Promise<{ ok: boolean; summary: BackfillSummary }> {
  const r = await backfillSingleProcess(url, options);
  if (r.isOk()) return { ok: true, summary: r.value };
  expect(r.error.partial, 'a failed run hands back its partial summary').toBeDefined();
  return { ok: false, summary: r.error.partial! };
}

beforeAll(async () => {
  [single, spread] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  await Promise.all([seedDocuments(single.url, seed), seedDocuments(spread.url, seed)]);
});
afterAll(async () => {
  await Promise.all([single?.drop(), spread?.drop()]);
});

describe('distributed statement backfill', () => {
  it('two workers end with the statements, sentence and report hash of a single-process run; planning is idempotent', async () => {
    const reference = await singleProcess(single.url, { runId: 'one' });
    const config = { connectionString: spread.url };
    const plan = (await planBackfill(config, { runId: 'spread', batchSize: 50, rangeSize: 70 }))._unsafeUnwrap();
    expect(plan.documents).toBe(900);
    // Ranges of 70, and the last two (70 + 60 documents) cut again into ranges of one batch (50) from the end.
    expect(plan.ranges.map((r) => r.documents)).toEqual([...Array(11).fill(70), 50, 50, 30]);
    expect(plan.ranges.reduce((n, r) => n + r.documents, 0)).toBe(900);
    const again = (await planBackfill(config, { runId: 'spread', batchSize: 50, rangeSize: 70 }))._unsafeUnwrap();
    expect(again.ranges).toEqual(plan.ranges);
    const other = await planBackfill(config, { runId: 'spread', force: true });
    expect(other.isErr() && other.error.code).toBe('INVALID_ARGUMENT');
    // A plain run cannot take a range's checkpoint.
    const taken = await singleProcess(spread.url, { runId: 'spread#range-1' }).catch((e: unknown) => e);
    expect(taken).toMatchObject({ ok: false });

    const before = (await backfillReport(config, 'spread'))._unsafeUnwrap();
    expect(before.state).toBe('running');
    const workers = await Promise.all([runBackfillWorker(config, { untilDone: true }), runBackfillWorker(config, { untilDone: true })]);
    const summaries = workers.map((w) => w._unsafeUnwrap());
    expect(summaries[0]!.ranges + summaries[1]!.ranges).toBe(14);

    const report = (await backfillReport(config, 'spread'))._unsafeUnwrap();
    expect(report.state).toBe('completed');
    expect(report.summary.text).toBe(reference.summary.text);
    expect(report.summary.reportSha256).toBe(reference.summary.reportSha256);
    expect(dumpStatements(spread.url)).toBe(dumpStatements(single.url));
    const progress = (await backfillProgress(config, 'spread'))._unsafeUnwrap();
    expect(progress).toMatchObject({ state: 'completed', done: 900, total: 900, ranges: 14, rangesCompleted: 14 });
    // The rate counts from the earliest range taken; only a worker's first range of the run notes its start.
    expect(progress.documentsPerSecond).toBeGreaterThan(0);
    const noted = Number(psql(spread.url, "SELECT count(started_at) FROM vex.statement_backfill_ranges WHERE run_id = 'spread'"));
    expect(noted).toBeGreaterThanOrEqual(1);
    expect(noted).toBeLessThanOrEqual(2);
    // Nothing left to do: a replan enqueues nothing and the report stays the same.
    (await planBackfill(config, { runId: 'spread', batchSize: 50, rangeSize: 70 }))._unsafeUnwrap();
    expect(psql(spread.url, "SELECT count(*) FROM pgboss.job WHERE state < 'completed'")).toBe('0');
  }, 120_000);

  it("maxDocuments and stopOnError: the report is the single process's, stopped at the first failing document in keyspace order", async () => {
    const reference = await singleProcess(single.url, { runId: 'stop', maxDocuments: 600, stopOnError: true });
    expect(reference.ok).toBe(false);
    const config = { connectionString: spread.url };
    (await planBackfill(config, { runId: 'stop', batchSize: 50, rangeSize: 60, maxDocuments: 600, stopOnError: true }))._unsafeUnwrap();
    (await runBackfillWorker(config, { untilDone: true, concurrency: 3 }))._unsafeUnwrap();
    const report = (await backfillReport(config, 'stop'))._unsafeUnwrap();
    expect(report.state).toBe('stopped');
    expect(report.stoppedBy?.digest).toBe(reference.summary.failed.at(-1)?.digest);
    expect(report.summary.text).toBe(reference.summary.text);
    expect(report.summary.reportSha256).toBe(reference.summary.reportSha256);
  }, 120_000);

  it("takes the next job before the one in hand is done, not after pg-boss's polling interval; ranges log their outcome at debug level", async () => {
    const config = { connectionString: spread.url };
    // Every document was backfilled by the first test: each of these 18 ranges only skips, in a few milliseconds.
    (await planBackfill(config, { runId: 'quick', rangeSize: 50 }))._unsafeUnwrap();
    const logged: { level: string; message: string }[] = [];
    const logger = {
      debug: (message: string) => logged.push({ level: 'debug', message }),
      info: (message: string) => logged.push({ level: 'info', message }),
      warn: (message: string) => logged.push({ level: 'warn', message }),
      error: (message: string) => logged.push({ level: 'error', message }),
    };
    const worker = (await runBackfillWorker({ ...config, logger }, { untilDone: true }))._unsafeUnwrap();
    expect(worker).toMatchObject({ ranges: 18, retried: 0 });
    // From pg-boss's own bookkeeping: the gap between one job's completion and the next one's start.
    const gaps = psql(
      spread.url,
      `SELECT extract(epoch FROM started_on - lag(completed_on) OVER (ORDER BY started_on)) FROM pgboss.job
        WHERE data->>'runId' = 'quick' ORDER BY started_on OFFSET 1`,
    )
      .split('\n')
      .map(Number);
    expect(gaps).toHaveLength(17);
    // Waiting out the interval (0.5 s) after each of these short jobs would make every gap about 0.5 s.
    expect(gaps.sort((a, b) => a - b)[8]).toBeLessThan(0.25);
    // The worker claims its next job once a range's last page is read, before that range's job is completed.
    expect(gaps.filter((g) => g < 0).length).toBeGreaterThanOrEqual(9);
    expect(logged.filter((l) => l.message.startsWith('Backfill completed')).map((l) => l.level)).toEqual(Array(18).fill('debug'));
    expect(logged.filter((l) => l.level === 'info').map((l) => l.message)).toEqual([]);
  }, 120_000);
  it("a worker given a runId waits for that run's jobs; without it, it finds the queue empty and returns at once", async () => {
    const config = { connectionString: spread.url };
    expect((await runBackfillWorker(config, { untilDone: true }))._unsafeUnwrap().ranges).toBe(0);
    const waiting = runBackfillWorker(config, { untilDone: true, runId: 'late' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const plan = (await planBackfill(config, { runId: 'late', rangeSize: 100 }))._unsafeUnwrap();
    expect((await waiting)._unsafeUnwrap().ranges).toBe(plan.ranges.length);
    expect((await backfillReport(config, 'late'))._unsafeUnwrap().state).toBe('completed');
    // A run with nothing left to do does not keep a waiting worker.
    expect((await runBackfillWorker(config, { untilDone: true, runId: 'late' }))._unsafeUnwrap().ranges).toBe(0);
  }, 120_000);
});
