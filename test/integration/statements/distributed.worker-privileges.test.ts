/**
 * A worker changes no table: the planner creates (and migrates) the plan's
 * tables, so a worker works a run with a role that may only read and write
 * them, and starts while another session reads the runs table (as a dump
 * of the database does for as long as it runs). It used to run `CREATE SCHEMA IF NOT
 * EXISTS` and `ALTER TABLE … ADD COLUMN IF NOT EXISTS` on the runs table at
 * every start: refused without CREATE on the database and ownership of the
 * runs table, and waiting for an ACCESS EXCLUSIVE lock behind any reader
 * of it (with every later reader queued behind that wait).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli } from '../cli/cli-harness.js';
import { psql, useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 41, count: 300, brokenRatio: 0.05 }, (created) => (db = created));

/** The documents the checkpoints of `runId`'s ranges say were evaluated, and how many of its ranges completed (read by psql). */
const done = (runId: string): string =>
  psql(
    db.url,
    `SELECT sum(evaluated) || ' ' || count(*) FILTER (WHERE completed) FROM vex.statement_backfill_checkpoints WHERE run_id LIKE '${runId}#range-%'`,
  );

it('a worker whose role may only read and write the plan tables works the run to its end', async () => {
  const planned = await cli(['statements', 'plan', '--run-id', 'dml', '--range-size', '100'], { env: { PGURI: db.url } });
  expect(planned.code, planned.stderr).toBe(0);

  const role = `worker_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  try {
    // What a worker needs: read the plan and the documents, write statements, checkpoints, ranges and heartbeats, take jobs.
    await db.query(`GRANT USAGE ON SCHEMA vex, pgboss TO ${role}`);
    await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA vex, pgboss TO ${role}`);
    await db.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA vex, pgboss TO ${role}`);
    await db.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgboss TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = password;

    const worker = await cli(['statements', 'worker', '--until-done', '--run-id', 'dml'], { env: { PGURI: url.toString() } });
    expect(worker.stderr).not.toMatch(/permission denied|must be owner/);
    expect(worker.code, worker.stderr).toBe(0);
    expect(done('dml')).toBe('300 3');
    const report = await cli(['statements', 'report', '--run-id', 'dml'], { env: { PGURI: db.url } });
    expect(report.code, report.stderr).toBe(4); // completed, with the generated broken documents as failures
    expect(report.stdout).toMatch(/^Backfill completed: evaluated 300, /m);
  } finally {
    await db.query(`DROP OWNED BY ${role}`);
    await db.query(`DROP ROLE ${role}`);
  }
}, 180_000);

it('a worker starts and works while another session holds a read lock on the runs table', async () => {
  const planned = await cli(['statements', 'plan', '--run-id', 'dumped', '--range-size', '100'], { env: { PGURI: db.url } });
  expect(planned.code, planned.stderr).toBe(0);
  // A reader that keeps the runs table open for as long as its transaction lasts, as a dump of the database does.
  const dump = new pg.Client({ connectionString: db.url });
  await dump.connect();
  try {
    await dump.query('BEGIN');
    await dump.query('LOCK TABLE vex.statement_backfill_runs IN ACCESS SHARE MODE');
    const worker = cli(['statements', 'worker', '--until-done', '--run-id', 'dumped'], { env: { PGURI: db.url } });
    let ended = false;
    void worker.finally(() => {
      ended = true;
    });
    // Either the worker ends, or one of its statements waits for a lock on the runs table that the reader's conflicts with.
    let waiting: string | undefined;
    while (!ended && waiting === undefined) {
      const [row] = await db.query<{ mode: string }>(
        `SELECT mode FROM pg_locks WHERE NOT granted AND relation = 'vex.statement_backfill_runs'::regclass LIMIT 1`,
      );
      waiting = row?.mode;
      await new Promise((r) => setTimeout(r, 25));
    }
    // Let go before asserting, so a worker that waits finishes either way.
    await dump.query('COMMIT');
    const run = await worker;
    expect(waiting).toBeUndefined();
    expect(run.code, run.stderr).toBe(0);
    expect(done('dumped')).toBe('300 3');
  } finally {
    await dump.end();
  }
}, 180_000);
