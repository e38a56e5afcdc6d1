/**
 * A replan with a mistyped `--ranges-table`, the way to enqueue the ranges
 * of a run whose planner stopped before it enqueued them. The planner
 * created the table empty (or read another plan store's), found none of the
 * run's ranges in it, enqueued nothing and said, exit 0, that the run's
 * documents were in 0 key ranges: the run stayed without a job. Now it is
 * refused (`INVALID_ARGUMENT`, exit 2) naming the flag, creating nothing.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli } from '../cli/cli-harness.js';
import { psql, useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 19, count: 150, brokenRatio: 0 }, (created) => (db = created));

const jobsOf = (runId: string): string => psql(db.url, `SELECT count(*) FROM pgboss.job WHERE data->>'runId' = '${runId}'`);

it('a replan with a ranges table that holds none of the run is refused, and enqueues nothing', async () => {
  const env = { PGURI: db.url };
  const planned = await cli(['statements', 'plan', '--run-id', 'r', '--range-size', '50'], { env });
  expect(planned.code, planned.stderr).toBe(0);
  // As a planner SIGKILLed once the plan was stored and before it enqueued the jobs leaves it.
  psql(db.url, "DELETE FROM pgboss.job WHERE data->>'runId' = 'r'");

  const missing = await cli(['statements', 'plan', '--run-id', 'r', '--range-size', '50', '--ranges-table', 'vex.mistyped_ranges'], {
    env,
  });
  expect(missing.code, missing.stdout + missing.stderr).toBe(2);
  expect(missing.stderr).toMatch(
    /^error INVALID_ARGUMENT: ranges table "vex"\."mistyped_ranges" does not exist in this database, though runs table "vex"\."statement_backfill_runs" does: a planner creates a run's tables together with its runs table; check --ranges-table/m,
  );
  expect(psql(db.url, "SELECT to_regclass('vex.mistyped_ranges') IS NULL")).toBe('t');

  // Another plan store's ranges table, which exists.
  const other = ['--runs-table', 'vex.b_runs', '--ranges-table', 'vex.b_ranges', '--workers-table', 'vex.b_workers'];
  expect((await cli(['statements', 'plan', '--run-id', 'b', ...other], { env })).code).toBe(0);
  const elsewhere = await cli(['statements', 'plan', '--run-id', 'r', '--range-size', '50', '--ranges-table', 'vex.b_ranges'], { env });
  expect(elsewhere.code, elsewhere.stdout + elsewhere.stderr).toBe(2);
  expect(elsewhere.stderr).toMatch(
    /^error INVALID_ARGUMENT: run r is planned in runs table "vex"\."statement_backfill_runs" with 150 documents, but ranges table "vex"\."b_ranges" holds none of its ranges: check --ranges-table/m,
  );
  expect(jobsOf('r')).toBe('0');

  // The replan with the run's own tables enqueues its ranges, and a worker completes it.
  const replanned = await cli(['statements', 'plan', '--run-id', 'r', '--range-size', '50'], { env });
  expect(replanned.code, replanned.stderr).toBe(0);
  expect(jobsOf('r')).toBe('3');
  const worker = await cli(['statements', 'worker', '--until-done', '--run-id', 'r'], { env });
  expect(worker.code, worker.stderr).toBe(0);
  const report = await cli(['statements', 'report', '--run-id', 'r'], { env });
  expect(report.code, report.stderr).toBe(0);
  expect(report.stdout).toMatch(/^Backfill completed: evaluated 150, backfilled 150, /m);
}, 180_000);
