/**
 * A worker given the right jobs schema but a mistyped `--runs-table`
 * watches that runs table's queue, where no job ever comes, while the
 * jobs schema holds the pending jobs of runs planned with the right one.
 * Its idle warning only said no job of any run was there and to check
 * `--jobs-schema` or `--runs-table`. It now names the runs with pending
 * jobs and the runs table they were planned with; their jobs stay queued
 * for the workers with the right flags. A runs table that does not exist
 * is refused (exit 2), rather than created empty.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli, refusedAtOnce } from '../cli/cli-harness.js';
import { psql, useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 4, count: 30, brokenRatio: 0 }, (created) => (db = created));

describe('a worker with a mistyped --runs-table', () => {
  it('names the runs with pending jobs in its jobs schema and their runs table, taking none of them', { timeout: 120_000 }, async () => {
    const env = { PGURI: db.url };
    for (const runId of ['nightly', 'weekly']) {
      const planned = await cli(['statements', 'plan', '--run-id', runId, '--range-size', '10'], { env });
      expect(planned.code, planned.stderr).toBe(0);
    }
    // A runs table that exists (created by hand here) but holds none of them: the worker waits on its own queue, and says so.
    psql(db.url, 'CREATE TABLE vex.statement_backfil_runs (LIKE vex.statement_backfill_runs INCLUDING ALL)');
    const typo = await cli(['statements', 'worker', '--until-done', '--runs-table', 'vex.statement_backfil_runs'], { env });
    expect(typo.code, typo.stderr).toBe(0);
    expect(typo.stdout).toContain('0 ranges done');
    expect(typo.stderr).toContain(
      'warn: statement backfill: no job of any planned run is in jobs schema "pgboss" for runs table "vex"."statement_backfil_runs", ' +
        'but it holds pending jobs of runs nightly, weekly of runs table vex.statement_backfill_runs: ' +
        'give every worker the --runs-table those runs were planned with.',
    );
    psql(db.url, 'DROP TABLE vex.statement_backfil_runs');
    // One that does not exist is refused at once, naming them the same way, and is not created.
    const missing = await refusedAtOnce(['statements', 'worker', '--until-done', '--runs-table', 'vex.statement_backfil_runs'], env);
    expect(missing.stderr).toContain(
      'error INVALID_ARGUMENT: no run was planned with runs table "vex"."statement_backfil_runs" (it does not exist in this database), ' +
        'but jobs schema "pgboss" holds pending jobs of runs nightly, weekly of runs table vex.statement_backfill_runs: ' +
        'give the --runs-table those runs were planned with.',
    );
    expect(psql(db.url, "SELECT pg_catalog.to_regclass('vex.statement_backfil_runs') IS NULL")).toBe('t');
    // Nothing was taken: the right worker does every range.
    const right = await cli(['statements', 'worker', '--until-done'], { env });
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout).toContain('6 ranges done');
    expect(right.stderr).not.toContain('no job of any planned run');
  });

  it('waiting for one run (--until-done --run-id), fails at once naming the runs table it was planned with; so does a report', {
    timeout: 120_000,
  }, async () => {
    const env = { PGURI: db.url };
    const planned = await cli(['statements', 'plan', '--run-id', 'monthly', '--range-size', '10'], { env });
    expect(planned.code, planned.stderr).toBe(0);
    const said =
      'run "monthly" is not planned in this runs table (no "vex"."statement_backfil_runs" table in this database), but jobs schema "pgboss" holds pending jobs of it planned with runs table vex.statement_backfill_runs; give --runs-table vex.statement_backfill_runs.';
    // It used to wait for ever, saying every minute the run was never planned and to plan it first.
    const typo = await refusedAtOnce(
      ['statements', 'worker', '--until-done', '--run-id', 'monthly', '--runs-table', 'vex.statement_backfil_runs'],
      env,
      20_000,
    );
    expect(typo.stderr).toContain(`error INVALID_ARGUMENT: ${said}`);
    const report = await cli(['statements', 'report', '--run-id', 'monthly', '--runs-table', 'vex.statement_backfil_runs'], { env });
    expect(report.code, report.stderr).toBe(2);
    expect(report.stderr).toContain(`error INVALID_ARGUMENT: ${said}`);
    const right = await cli(['statements', 'worker', '--until-done', '--run-id', 'monthly'], { env });
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout).toContain('3 ranges done');
  });

  it('finds the runs table of a queue whose name maps its characters ($ in a table name)', { timeout: 120_000 }, async () => {
    const env = { PGURI: db.url };
    const planned = await cli(['statements', 'plan', '--run-id', 'dollar', '--runs-table', 'vex.runs$x'], { env });
    expect(planned.code, planned.stderr).toBe(0);
    const typo = await refusedAtOnce(['statements', 'worker', '--until-done', '--runs-table', 'vex.runs_x'], env);
    expect(typo.stderr).toContain('but jobs schema "pgboss" holds pending jobs of run dollar of runs table vex.runs$x:');
  });
});
