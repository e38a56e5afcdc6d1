/**
 * A range whose job uses up the engine's retries (one document's claims
 * break a CHECK constraint; the retry limit is lowered in pg-boss's own
 * rows to get there in seconds): while it is retried, progress and
 * `statements report` say so (attempts failed, last error); then the run
 * is `failed`, naming the range and its last error, `statements worker
 * --until-done`, `statements report` and `backfill --workers 2` exit 4
 * with RANGE_FAILED, and once the cause is fixed a replan completes it with
 * the single-process report.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { psql, seedDocuments } from './helpers.js';

let ref: TestDatabase;
let db: TestDatabase;
const seed = { seed: 3, count: 400, brokenRatio: 0 };
const flags = ['--batch-size', '50', '--range-size', '100'];

beforeAll(async () => {
  [ref, db] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  await Promise.all([seedDocuments(ref.url, seed), seedDocuments(db.url, seed)]);
});
afterAll(async () => {
  await Promise.all([ref?.drop(), db?.drop()]);
});

const run = (args: readonly string[]) => cli([...args, '--pg', db.url]);

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

/** A `statements worker` (no --until-done) in the background; `stop()` sends SIGTERM and waits for its exit. */
function backgroundWorker(): { stop(): Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', tsxLoader, main, 'statements', 'worker', '--quiet', '--pg', db.url], {
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  return {
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The pg-boss state of range `n`'s job of run `runId`. */
const jobState = (runId: string, n: number): string =>
  psql(db.url, `SELECT state FROM pgboss.job WHERE data->>'runId' = '${runId}' AND (data->>'n')::int = ${n}`).trim();

describe('a planned run whose range fails on every retry', () => {
  it('is failed (not running), names the range and its error, and completes once the cause is fixed and it is planned again', async () => {
    // The single-process run works its own database meanwhile; its report is compared at the end.
    const uninterrupted = cli(['statements', 'backfill', '--run-id', 'one', '--batch-size', '50', '--json'], { env: { PGURI: ref.url } });
    expect((await run(['statements', 'plan', '--run-id', 'e', ...flags])).code).toBe(0);
    const bad = psql(db.url, 'SELECT digest FROM vex.raw_documents ORDER BY retrieved_at, digest OFFSET 250 LIMIT 1').trim();
    psql(db.url, `ALTER TABLE vex.statements ADD CONSTRAINT no_bad CHECK (document_digest <> '${bad}')`);
    // First a long wait between attempts: the range sits failed, waiting for its retry, while the run is running.
    psql(db.url, 'UPDATE pgboss.job SET retry_limit = 3, retry_delay = 3600, retry_backoff = false');
    const background = backgroundWorker();
    for (let i = 0; i < 1200 && jobState('e', 3) !== 'retry'; i += 1) await new Promise((r) => setTimeout(r, 50));
    expect(jobState('e', 3)).toBe('retry');
    // Read while the worker still runs: stopping it hands its range in flight back as a failed attempt too.
    const retrying = await run(['statements', 'report', '--run-id', 'e', '--json']);
    await background.stop();
    const rr = jsonOf(retrying);
    expect(retrying.code, retrying.stderr).toBe(7);
    expect(rr.error?.code).toBe('RUN_IN_PROGRESS');
    expect(rr.report?.state).toBe('running');
    expect(rr.report?.retrying).toEqual([{ n: 3, failedAttempts: 1, attempts: 4, error: expect.stringMatching(/no_bad/) }]);
    expect(rr.report?.progress?.retrying).toEqual(rr.report?.retrying);
    expect(rr.error?.message).toMatch(/range 3 failing, retried \(1 of 4 attempts failed; last error: .*no_bad.*\)/);

    // Then no retry left: the next attempt is the last.
    psql(db.url, 'UPDATE pgboss.job SET retry_limit = 1, retry_delay = 0, retry_backoff = false, start_after = now()');
    // Later jobs of the queue (the --workers run below) take the queue's settings.
    psql(db.url, 'UPDATE pgboss.queue SET retry_limit = 1, retry_delay = 0, retry_backoff = false');

    const worker = await run(['statements', 'worker', '--until-done', '--quiet', '--json']);
    expect(worker.code, worker.stderr).toBe(4);
    expect(jsonOf(worker).error?.code).toBe('RANGE_FAILED');
    expect(worker.stderr).toMatch(/error RANGE_FAILED: run e failed: range 3 \(last error: .*no_bad.*\) failed on every retry/);
    expect(jsonOf(worker).report?.runs).toEqual(['e']);
    const report = await run(['statements', 'report', '--run-id', 'e', '--json']);
    const r = jsonOf(report);
    expect(report.code, report.stderr).toBe(4);
    expect(r.error?.code).toBe('RANGE_FAILED');
    expect(r.error?.message).toMatch(
      /run e failed: range 3 \(last error: .*no_bad.*\) failed on every retry; fix the cause, then plan it again/,
    );
    expect(report.stderr).not.toMatch(/stale lock file|still running/);
    expect(r.report?.state).toBe('failed');
    expect(r.report?.failedRanges?.map((f: { n: number }) => f.n)).toEqual([3]);

    // backfill --workers ends with the failure instead of waiting on it.
    const started = Date.now();
    const workers = await run(['statements', 'backfill', '--run-id', 'w', '--workers', '2', ...flags, '--quiet']);
    expect(workers.code, workers.stderr).toBe(4);
    expect(workers.stderr).toMatch(/error RANGE_FAILED: run w failed: range 3/);
    expect(Date.now() - started).toBeLessThan(60_000);

    // Fix the cause, plan again (re-enqueues the unfinished range), work: the single process's report.
    psql(db.url, 'ALTER TABLE vex.statements DROP CONSTRAINT no_bad');
    expect((await run(['statements', 'plan', '--run-id', 'e', ...flags])).code).toBe(0);
    expect((await run(['statements', 'worker', '--until-done', '--quiet'])).code).toBe(0);
    const done = jsonOf(await run(['statements', 'report', '--run-id', 'e', '--json']));
    expect(done.report?.state).toBe('completed');
    expect(done.report.summary.reportSha256).toBe(jsonOf(await uninterrupted).report.reportSha256);
  }, 240_000);
});
