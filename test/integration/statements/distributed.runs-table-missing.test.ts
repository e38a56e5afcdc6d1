/**
 * Only a planner creates the runs table. A worker, report or progress read
 * given a runs table that does not exist (a mistyped `--runs-table`) used
 * to differ: the worker created it (with the ranges and workers tables)
 * empty, found no job in its queue and, with `--until-done`, exited 0
 * while the real run waited. Each now refuses with INVALID_ARGUMENT (exit
 * 2) naming the table, saying no run was planned with it and what to do,
 * and creates nothing. A worker started with its run's planner
 * (`--until-done --run-id`) still waits for the plan, and its runs table,
 * and one serving the queue until stopped (no `--until-done`) waits for a
 * planner too, unless runs wait under another runs table.
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
useSeededDatabase({ seed: 9, count: 40, brokenRatio: 0 }, (created) => (db = created));

/** The tables of the plan store named after runs table `runs` (`planStoreConfig`) that exist. */
const existing = (runs: string): string =>
  psql(
    db.url,
    `SELECT count(*) FROM unnest(ARRAY['${runs}', '${runs}_ranges', '${runs}_workers']) AS t(name) WHERE pg_catalog.to_regclass(t.name) IS NOT NULL`,
  );

const said = (table: string) => `no run was planned with runs table ${table} (it does not exist in this database)`;

describe('a runs table that does not exist', () => {
  it('the CLI worker --until-done refuses it at once, exit 2, and creates nothing', { timeout: 120_000 }, async () => {
    const r = await refusedAtOnce(
      [
        'statements',
        'worker',
        '--until-done',
        '--runs-table',
        'vex.runz',
        '--ranges-table',
        'vex.runz_ranges',
        '--workers-table',
        'vex.runz_workers',
      ],
      {
        PGURI: db.url,
      },
    );
    expect(r.stderr).toContain(
      `error INVALID_ARGUMENT: ${said('"vex"."runz"')}: check --runs-table against the planner's, or plan a run first (statements plan --run-id <id>).`,
    );
    expect(existing('vex.runz')).toBe('0');
  });

  it('a CLI worker serving the queue (no --until-done) waits for a planner instead, warning once and creating nothing, then works the run', {
    timeout: 180_000,
  }, async () => {
    const env = { PGURI: db.url };
    const tables = ['--runs-table', 'vex.served', '--ranges-table', 'vex.served_ranges', '--workers-table', 'vex.served_workers'];
    let pid: number | undefined;
    const serving = cli(['statements', 'worker', ...tables], { env, onSpawn: (p) => (pid = p), killAfterMs: 150_000 });
    await new Promise((r) => setTimeout(r, 4_000));
    expect(existing('vex.served')).toBe('0');
    const planned = await cli(['statements', 'plan', '--run-id', 'served', '--range-size', '20', ...tables], { env });
    expect(planned.code, planned.stderr).toBe(0);
    let report = await cli(['statements', 'report', '--run-id', 'served', ...tables], { env });
    for (let tries = 0; report.code !== 0 && tries < 60; tries += 1) {
      await new Promise((r) => setTimeout(r, 1_000));
      report = await cli(['statements', 'report', '--run-id', 'served', ...tables], { env });
    }
    expect(report.code, report.stderr).toBe(0);
    if (pid !== undefined) process.kill(pid, 'SIGTERM');
    const r = await serving;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/runs table "vex"."served" does not exist yet: waiting for a planner/g)).toHaveLength(1);
    expect(r.stdout).toContain('2 ranges done');
  });

  it('the CLI report refuses it, exit 2, saying to check --runs-table or plan first', { timeout: 120_000 }, async () => {
    const r = await cli(['statements', 'report', '--run-id', 'nightly', '--runs-table', 'vex.runz', '--json'], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(2);
    expect(jsonOf(r).error?.message).toBe(
      `run "nightly" was never planned: ${said('"vex"."runz"')}; check --runs-table, or plan it first (statements plan --run-id nightly).`,
    );
    expect(existing('vex.runz')).toBe('0');
  });

  it('the library refuses it from runBackfillWorker, backfillReport and backfillProgress, creating nothing', {
    timeout: 120_000,
  }, async () => {
    const config = planStoreConfig(db.url, 'vex.lib_runz');
    const worker = (await runBackfillWorker(config, { untilDone: true }))._unsafeUnwrapErr();
    expect(worker.code).toBe('INVALID_ARGUMENT');
    expect(worker.message).toBe(
      `${said('"vex"."lib_runz"')}: check --runs-table (tables.runs) against the planner's, or plan a run first (statements plan --run-id <id>).`,
    );
    expect(worker.context).toMatchObject({ runsTable: '"vex"."lib_runz"' });
    for (const read of [backfillReport(config, 'nightly'), backfillProgress(config, 'nightly')]) {
      const refused = (await read)._unsafeUnwrapErr();
      expect(refused.code).toBe('INVALID_ARGUMENT');
      expect(refused.message).toContain(said('"vex"."lib_runz"'));
    }
    expect(existing('vex.lib_runz')).toBe('0');
  });

  it('a worker refused it names the runs with jobs pending under the runs table they were planned with', { timeout: 120_000 }, async () => {
    const env = { PGURI: db.url };
    const planned = await cli(['statements', 'plan', '--run-id', 'pending', '--range-size', '20'], { env });
    expect(planned.code, planned.stderr).toBe(0);
    const r = await refusedAtOnce(['statements', 'worker', '--until-done', '--runs-table', 'vex.statement_backfil_runs'], env);
    expect(r.stderr).toContain(
      `error INVALID_ARGUMENT: ${said('"vex"."statement_backfil_runs"')}, but jobs schema "pgboss" holds pending jobs of run pending of runs table vex.statement_backfill_runs: give the --runs-table those runs were planned with.`,
    );
    // One serving the queue refuses it too: runs wait under another runs table.
    const serving = await refusedAtOnce(['statements', 'worker', '--runs-table', 'vex.statement_backfil_runs'], env);
    expect(serving.stderr).toContain('holds pending jobs of run pending of runs table vex.statement_backfill_runs');
    const right = await cli(['statements', 'worker', '--until-done'], { env });
    expect(right.code, right.stderr).toBe(0);
    expect(right.stdout).toContain('2 ranges done');
  });

  it('a worker of one run started before its planner waits for the runs table and the plan, then works it', {
    timeout: 120_000,
  }, async () => {
    const config = planStoreConfig(db.url, 'vex.early_runs');
    const worker = runBackfillWorker(config, { untilDone: true, runId: 'early', signal: AbortSignal.timeout(90_000) });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(existing('vex.early_runs')).toBe('0');
    const plan = (await planBackfill(config, { runId: 'early', rangeSize: 20 }))._unsafeUnwrap();
    expect((await worker)._unsafeUnwrap()).toMatchObject({ ranges: plan.ranges.length, runs: ['early'] });
  });
});
