/**
 * Only a planner creates a run's tables. Given the right runs table but a
 * mistyped ranges or workers table, a worker used to create that table
 * empty: with the ranges table, it found the run's plan but none of its
 * ranges and dropped every job as "a range no plan has" (and with
 * `--until-done` exited 0, the run's ranges never backfilled); with the
 * workers table, it beat its heart where progress never looks. A report or
 * progress read failed with TABLE_NOT_FOUND, or said no run was ever
 * planned. Each now refuses with INVALID_ARGUMENT (exit 2) naming the flag
 * and the table, and creates nothing; a ranges table that exists but holds
 * none of the run's ranges is refused too, its jobs handed back untouched.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli, jsonOf, refusedAtOnce } from '../cli/cli-harness.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { backfillProgress } from '../../../src/statements/distributed-progress.js';
import { planStoreConfig, psql, useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 11, count: 40, brokenRatio: 0 }, (created) => (db = created));

const exists = (table: string): boolean => psql(db.url, `SELECT pg_catalog.to_regclass('${table}') IS NOT NULL`) === 't';

describe('a mistyped ranges or workers table beside the right runs table', () => {
  it.for([
    ['ranges', 'vex.mt_runs_rangez', '--ranges-table (tables.ranges)'],
    ['workers', 'vex.mt_runs_workerz', '--workers-table (tables.workers)'],
  ] as const)(
    'the library refuses a %s table that does not exist, from a worker, a report and a progress read, creating nothing',
    {
      timeout: 120_000,
    },
    async ([kind, table, flag]) => {
      const planned = planStoreConfig(db.url, 'vex.mt_runs');
      const plan = (await planBackfill(planned, { runId: `mt-${kind}`, rangeSize: 20 }))._unsafeUnwrap();
      expect(plan.ranges.length).toBe(2);
      const config = { ...planned, tables: { ...planned.tables, [kind]: table } };
      const quoted = `"vex"."${table.slice(4)}"`;
      const said = `${kind} table ${quoted} does not exist in this database, though runs table "vex"."mt_runs" does: only a planner (statements plan) creates a run's tables; check ${flag} against the planner's.`;
      const worker = (await runBackfillWorker(config, { untilDone: true }))._unsafeUnwrapErr();
      expect(worker.code).toBe('INVALID_ARGUMENT');
      expect(worker.message).toBe(said);
      expect(worker.context).toMatchObject({ runsTable: '"vex"."mt_runs"', [`${kind}Table`]: quoted });
      const reads = [backfillProgress(config, `mt-${kind}`), ...(kind === 'ranges' ? [backfillReport(config, `mt-${kind}`)] : [])];
      for (const read of reads) {
        const refused = (await read)._unsafeUnwrapErr();
        expect(refused.code).toBe('INVALID_ARGUMENT');
        expect(refused.message).toBe(said);
      }
      expect(exists(table)).toBe(false);
      // The right tables still work the run.
      expect((await runBackfillWorker(planned, { untilDone: true, runId: `mt-${kind}` }))._unsafeUnwrap()).toMatchObject({ ranges: 2 });
    },
  );

  it("a worker given a ranges table that holds none of the run's ranges hands its job back and stops, instead of dropping it", {
    timeout: 120_000,
  }, async () => {
    const other = planStoreConfig(db.url, 'vex.other_runs');
    (await planBackfill(other, { runId: 'other', rangeSize: 40 }))._unsafeUnwrap();
    const planned = planStoreConfig(db.url, 'vex.held_runs');
    (await planBackfill(planned, { runId: 'held', rangeSize: 20 }))._unsafeUnwrap();
    const wrong = { ...planned, tables: { ...planned.tables, ranges: 'vex.other_runs_ranges' } };
    const worker = (await runBackfillWorker(wrong, { untilDone: true }))._unsafeUnwrapErr();
    expect(worker.code).toBe('INVALID_ARGUMENT');
    expect(worker.message).toBe(
      'run held is planned in runs table "vex"."held_runs" with 40 documents, but ranges table "vex"."other_runs_ranges" holds none of its ranges: check --ranges-table (tables.ranges) against the planner\'s.',
    );
    expect((await backfillReport(wrong, 'held'))._unsafeUnwrapErr().message).toBe(worker.message);
    // Its jobs were handed back, not dropped: the right worker backfills both ranges.
    expect((await runBackfillWorker(planned, { untilDone: true, runId: 'held' }))._unsafeUnwrap()).toMatchObject({ ranges: 2 });
    expect((await backfillReport(planned, 'held'))._unsafeUnwrap()).toMatchObject({ state: 'completed' });
  });

  it('the CLI worker and report refuse a mistyped --ranges-table, exit 2, naming the flag', { timeout: 120_000 }, async () => {
    const env = { PGURI: db.url };
    const planned = await cli(['statements', 'plan', '--run-id', 'cli-mt', '--range-size', '20'], { env });
    expect(planned.code, planned.stderr).toBe(0);
    const said =
      'ranges table "vex"."statement_backfil_ranges" does not exist in this database, though runs table "vex"."statement_backfill_runs" does: only a planner (statements plan) creates a run\'s tables; check --ranges-table against the planner\'s.';
    const r = await refusedAtOnce(['statements', 'worker', '--until-done', '--ranges-table', 'vex.statement_backfil_ranges'], env);
    expect(r.stderr).toContain(`error INVALID_ARGUMENT: ${said}`);
    const report = await cli(['statements', 'report', '--run-id', 'cli-mt', '--ranges-table', 'vex.statement_backfil_ranges', '--json'], {
      env,
    });
    expect(report.code, report.stderr).toBe(2);
    expect(jsonOf(report).error?.message).toBe(said);
    expect(exists('vex.statement_backfil_ranges')).toBe(false);
  });
});
