/**
 * The extra workers of `statements backfill --workers N` run as worker
 * threads of the CLI process. Against real PostgreSQL and pg-boss: a thread
 * terminated in the middle of a range (a thread's SIGKILL) loses nothing:
 * the planning worker (`planAndWork`, as `--workers` runs it) ends the run
 * with the single-process report once the engine hands the range out
 * again; a thread that is stopped or fails says so through its outcome.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startWorkerThread } from '../../../src/cli/worker-thread.js';
import { backfillReport, planAndWork, planBackfill, runBackfillWorker } from '../../../src/statements/distributed.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { dumpStatements, psql, seededPair } from './helpers.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

const seed = { seed: 31, count: 1500, brokenRatio: 0.04 };
const pair = seededPair(seed);

/** Whether one of the run's ranges has committed a batch and not finished, as the checkpoints table shows it. */
async function rangeInFlight(url: string, runId: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      'SELECT 1 FROM vex.statement_backfill_checkpoints WHERE run_id LIKE $1 AND NOT completed AND evaluated > 0 LIMIT 1',
      [`${runId}#range-%`],
    );
    return r.rowCount === 1;
  } catch {
    return false; // the checkpoints table is not there yet
  } finally {
    await c.end();
  }
}

describe('--workers worker threads', () => {
  it('a thread terminated mid-range loses nothing: the planning worker then finishes the run with the single-process report', async () => {
    const clean = jsonOf(
      await cli(['statements', 'backfill', '--run-id', 'one', '--batch-size', '50', '--json'], { env: { PGURI: pair.reference.url } }),
    );
    const config = { connectionString: pair.victim.url };
    const plan = { runId: 'spread', batchSize: 50, rangeSize: 250 };
    (await planBackfill(config, plan))._unsafeUnwrap();
    // The thread works alone until one of its ranges has committed a batch, and is terminated there (a thread's SIGKILL).
    const thread = startWorkerThread(config, { runId: 'spread', signal: new AbortController().signal });
    const deadline = Date.now() + 120_000;
    while (!(await rangeInFlight(pair.victim.url, 'spread'))) {
      expect(Date.now(), 'the worker thread took no range within 2 minutes').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 25));
    }
    await thread.terminate();
    expect(await thread.ended, 'a terminated thread has no outcome').toBeNull();

    // As --workers does: plan (again: idempotent) and work until the queue is done, the killed range included.
    const worked = await planAndWork(config, plan, {}, () => {});
    expect(worked.isOk() && worked.value.ranges).toBeGreaterThan(0);
    const report = (await backfillReport(config, 'spread'))._unsafeUnwrap();
    expect(report.state).toBe('completed');
    expect(report.summary.text).toBe(clean.report.text);
    expect(report.summary.reportSha256).toBe(clean.report.reportSha256);
    expect(dumpStatements(pair.victim.url)).toBe(dumpStatements(pair.reference.url));
    // The killed range was handed out again: its job has a failed attempt behind it.
    const retried = Number(psql(pair.victim.url, "SELECT count(*) FROM pgboss.job WHERE data->>'runId' = 'spread' AND retry_count > 0"));
    expect(retried).toBeGreaterThan(0);
  }, 300_000);

  it("a stopped thread ends with exit status 0, and a thread whose worker fails ends with that failure's exit status", async () => {
    const config = { connectionString: pair.reference.url };
    // Stopped before it found a job: it ends as a stopped worker process does.
    const stopped = new AbortController();
    stopped.abort();
    expect(await startWorkerThread(config, { runId: 'never-planned', signal: stopped.signal }).ended).toBe(0);
    // A jobs schema name the worker refuses: its failure comes back as an exit status (not 0, and not a dead thread's null).
    const bad = startWorkerThread(
      { ...config, jobsSchema: 'no such schema' },
      { runId: 'never-planned', signal: new AbortController().signal },
    );
    const code = await bad.ended;
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
  }, 120_000);

  it('a worker whose signal fired before it started returns at once (it used to wait for the run forever)', async () => {
    const stopped = new AbortController();
    stopped.abort();
    const started = Date.now();
    const done = await runBackfillWorker(
      { connectionString: pair.reference.url },
      { untilDone: true, runId: 'never-planned', signal: stopped.signal },
    );
    expect(done._unsafeUnwrap().ranges).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('backfill --workers 2 runs under Node options that hold for the whole process (a thread may not be given them again)', async () => {
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--max-old-space-size=1024',
          '--import',
          tsxLoader,
          main,
          'statements',
          'backfill',
          '--run-id',
          'opts',
          '--workers',
          '2',
          '--range-size',
          '100',
          '--max-documents',
          '400',
          '--statements-table',
          'opts.statements',
          '--documents-table',
          'opts.documents',
          '--checkpoints-table',
          'opts.checkpoints',
          '--failures-table',
          'opts.failures',
          '--json',
          '--pg',
          pair.reference.url,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let [stdout, stderr] = ['', ''];
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(run.stderr).not.toMatch(/worker thread died|invalid execArgv/);
    expect(run.code, run.stderr).toBe(4); // completed, with the seed's broken documents as failures
    expect(JSON.parse(run.stdout).report.state).toBe('completed');
  }, 120_000);
});
