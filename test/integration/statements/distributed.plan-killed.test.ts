/**
 * `statements plan` killed (SIGKILL) after it stored the plan and before it
 * enqueued the jobs leaves a planned run with no job in the queue: nothing
 * would ever move it. A worker waiting for the run and the report say so
 * and how to recover, and planning again with the same options does.
 *
 * The kill is made deterministic with locks: the planner is held at its
 * plan lock until the job table is locked, so it stops right after the
 * plan's commit, at the enqueue, and is killed there.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { psql, seedDocuments } from './helpers.js';
import { cli } from '../cli/cli-harness.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { backfillProgress } from '../../../src/statements/distributed-progress.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 31, count: 200, brokenRatio: 0 });
  // Another run first, so the tables, pg-boss's schema and the queue exist (and the planner below gets straight to work).
  (await planBackfill({ connectionString: db.url }, { runId: 'warm', batchSize: 50, rangeSize: 100, maxDocuments: 1 }))._unsafeUnwrap();
});
afterAll(async () => {
  await db?.drop();
});

/** Polls `sql` (on this test's database) until it gives something other than 0. Its `pg_stat_activity` checks name this database: the server is shared with other test files, whose backends wait on locks of their own. */
async function waitFor(what: string, sql: string): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (psql(db.url, sql) !== '0') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** `url` whose sessions check every 100 ms that their client is still there, even while waiting for a lock. */
function checkingClient(url: string): string {
  const u = new URL(url);
  u.searchParams.set('options', '-c client_connection_check_interval=100');
  return u.toString();
}

/** Runs `statements plan --run-id killed` and SIGKILLs it between the plan's commit and the enqueue. */
async function planKilledBeforeEnqueue(): Promise<void> {
  const a = new pg.Client({ connectionString: db.url });
  const b = new pg.Client({ connectionString: db.url });
  await Promise.all([a.connect(), b.connect()]);
  try {
    await a.query('BEGIN');
    await a.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', ['"vex"."statement_backfill_runs"', 'killed']);
    const child = spawn(
      process.execPath,
      ['--import', tsxLoader, main, 'statements', 'plan', '--run-id', 'killed', '--batch-size', '50', '--range-size', '100'],
      {
        // Its backend blocked at the enqueue must notice the kill and not run the INSERT once the lock is gone.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PGURI: checkingClient(db.url) },
        stdio: 'ignore',
      },
    );
    const exited = new Promise((r) => child.once('exit', r));
    await waitFor(
      'the planner at its plan lock',
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'",
    );
    await b.query('BEGIN');
    // Not the checkpoints table: the planner reads it under the run lock before it stores the plan.
    await b.query('LOCK TABLE pgboss.job IN ACCESS EXCLUSIVE MODE');
    await a.query('COMMIT');
    await waitFor('the plan stored', "SELECT count(*) FROM vex.statement_backfill_runs WHERE run_id = 'killed'");
    await waitFor(
      'the planner at its enqueue',
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'relation'",
    );
    child.kill('SIGKILL');
    await exited;
    await waitFor(
      'the killed planner gone',
      "SELECT (count(*) = 0)::int FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'relation'",
    );
    await b.query('ROLLBACK');
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}

it('a planner killed between storing the plan and enqueueing its jobs: the worker and the report say to plan again, which recovers', async () => {
  await planKilledBeforeEnqueue();
  expect(psql(db.url, "SELECT count(*) FROM pgboss.job WHERE data->>'runId' = 'killed'")).toBe('0');

  const warnings: string[] = [];
  // The worker waits for the run; stop it once it has said why nothing moves (or after 12 s).
  const said = new AbortController();
  const warn = (m: string): void => {
    warnings.push(m);
    if (m.includes('none of its ranges has a job in the queue')) said.abort();
  };
  const logger = { info: () => undefined, debug: () => undefined, error: () => undefined, warn };
  const waiting = await runBackfillWorker(
    { connectionString: db.url, logger },
    { untilDone: true, runId: 'killed', signal: AbortSignal.any([said.signal, AbortSignal.timeout(12_000)]) },
  );
  expect(waiting._unsafeUnwrap().ranges).toBe(0);
  expect(warnings.join('\n')).toMatch(
    /run killed is planned, but none of its ranges has a job in the queue: .*statements plan --run-id killed/,
  );
  expect((await backfillProgress({ connectionString: db.url }, 'killed'))._unsafeUnwrap()).toMatchObject({
    state: 'running',
    noJobQueued: true,
  });
  const reported = await cli(['statements', 'report', '--run-id', 'killed'], { env: { PGURI: db.url } });
  expect(reported.code).toBe(7);
  expect(reported.stderr).toMatch(
    /but none of its ranges has a job in the queue: .*plan it again with the same options \(statements plan --run-id killed\)/,
  );

  // Planning again with the same options enqueues the ranges; workers then finish the run.
  (await planBackfill({ connectionString: db.url }, { runId: 'killed', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
  expect((await backfillProgress({ connectionString: db.url }, 'killed'))._unsafeUnwrap().noJobQueued).toBe(false);
  (
    await runBackfillWorker({ connectionString: db.url }, { untilDone: true, runId: 'killed', signal: AbortSignal.timeout(30_000) })
  )._unsafeUnwrap();
  expect((await backfillReport({ connectionString: db.url }, 'killed'))._unsafeUnwrap().state).toBe('completed');
}, 90_000);
