/**
 * One run id planned in two runs tables over one store (a mistyped
 * `--runs-table`, then the right one): both plans' ranges are
 * `<runId>#range-<n>` in the one checkpoints table. The second plan was
 * refused only once a range of the first had a checkpoint; planned before
 * any worker ran, with another range size, it was stored, and once workers
 * had worked both, its report said `completed` with 1.5 times the documents
 * (the first plan's checkpoints taken for its own ranges). Now it is
 * refused, naming the runs table the run is planned in; a plan of the id
 * in another store (its own checkpoints table) is not.
 */
import { expect, it } from 'vitest';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { psql, seededPair } from './helpers.js';

const pair = seededPair({ seed: 7, count: 400, brokenRatio: 0.05 });
const typo = ['--runs-table', 'vex.typo_runs', '--ranges-table', 'vex.typo_ranges', '--workers-table', 'vex.typo_workers'];

it('a second plan of a run id over the same checkpoints table is refused, and the first one reports as a single process', async () => {
  const env = { PGURI: pair.victim.url };
  const single = cli(['statements', 'backfill', '--run-id', 'x', '--json'], { env: { PGURI: pair.reference.url } });

  const first = await cli(['statements', 'plan', '--run-id', 'x', '--range-size', '100', ...typo], { env });
  expect(first.code, first.stderr).toBe(0);
  const second = await cli(['statements', 'plan', '--run-id', 'x', '--range-size', '50'], { env });
  expect(second.code, second.stderr).toBe(2);
  expect(second.stderr).toMatch(
    /^error INVALID_ARGUMENT: run x is planned in runs table vex\.typo_runs over the same checkpoints table \(vex\.statement_backfill_checkpoints\): plan, work and report it with that runs table \(--runs-table vex\.typo_runs, and its ranges and workers tables\)/m,
  );
  // Nothing of the refused plan was stored or enqueued.
  expect(psql(pair.victim.url, "SELECT count(*) FROM vex.statement_backfill_runs WHERE run_id = 'x'")).toBe('0');
  expect(psql(pair.victim.url, "SELECT count(DISTINCT name) FROM pgboss.job WHERE data->>'runId' = 'x'")).toBe('1');

  // Another store (a tenant's checkpoints table) shares no checkpoint with it: planned as before.
  const tenant = await cli(['statements', 'plan', '--run-id', 'x', '--range-size', '50', '--checkpoints-table', 'tenant.checkpoints'], {
    env,
  });
  expect(tenant.code, tenant.stderr).toBe(0);

  // Replanned (and worked) with its own runs table, the run reports what a single process does.
  const worked = await cli(['statements', 'backfill', '--workers', '2', '--run-id', 'x', '--range-size', '100', ...typo, '--json'], {
    env,
  });
  expect(worked.code, worked.stderr).toBe(4); // completed, with the generated broken documents as failures
  const reference = jsonOf(await single).report;
  const report = jsonOf(worked).report;
  expect(report.state).toBe('completed');
  expect(report.summary.text).toBe(reference.text);
  expect(report.summary.reportSha256).toBe(reference.reportSha256);
}, 180_000);
