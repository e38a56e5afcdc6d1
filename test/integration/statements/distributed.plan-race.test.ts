/**
 * `statements plan` and a single-process `statements backfill` started at
 * once under one run id: each checks for the other's state before it acts,
 * and both take the run lock for it, so whichever order the two interleave
 * in, one of them is refused and the run id stays one mode's.
 *
 * The interleavings are forced with locks held from the test's own
 * connections: a planner is held at its plan lock (after its checks, before
 * it stores the plan), and a single-process CLI run at the statements
 * table's creation lock (after the CLI started it, before the run takes
 * its run lock). A planner killed while it holds the run lock frees it
 * with its connection.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { backfillSingleProcess, planStoreConfig, psql, useSeededDatabase } from './helpers.js';
import { cli } from '../cli/cli-harness.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';

let db: TestDatabase;
useSeededDatabase({ seed: 41, count: 200, brokenRatio: 0 }, (d) => (db = d));

/** The test's connection that holds the locks. */
let holder: pg.Client;
beforeEach(async () => {
  holder = new pg.Client({ connectionString: db.url });
  await holder.connect();
});
afterEach(async () => {
  await holder.end();
});

const RUNS = '"vex"."statement_backfill_runs"';
const STATEMENTS = '"vex"."statements"';

/** Holds the plan lock of `runId` in `runs` (planners of it wait there, after their checks, before storing the plan); returns its release. */
async function holdPlanLock(runId: string, runs = RUNS): Promise<() => Promise<void>> {
  await holder.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', [runs, runId]);
  return async () => void (await holder.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [runs, runId]));
}

/** Holds the statements table's creation lock (a CLI run waits there in `prepare()`); returns its release. */
async function holdCreationLock(): Promise<() => Promise<void>> {
  await holder.query('SELECT pg_advisory_lock(hashtext($1))', [STATEMENTS]);
  return async () => void (await holder.query('SELECT pg_advisory_unlock(hashtext($1))', [STATEMENTS]));
}

/** Waits until `n` sessions of the test database (other databases on the server are not this test's) wait for an advisory lock. */
async function waiters(n: number): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (Number(psql(db.url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'")) >= n)
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${n} sessions at an advisory lock`);
}

const planned = (runId: string): string => psql(db.url, `SELECT count(*) FROM vex.statement_backfill_runs WHERE run_id = '${runId}'`);
const checkpointed = (runId: string): string =>
  psql(db.url, `SELECT count(*) FROM vex.statement_backfill_checkpoints WHERE run_id = '${runId}'`);
const plan = (runId: string) => planBackfill({ connectionString: db.url }, { runId, batchSize: 50, rangeSize: 100 });

describe('plan and single-process backfill of one run id, started at once', () => {
  it('a single-process run started before a plan is stored, which takes its run lock after it, is refused as a planned run', async () => {
    // The planner's checks pass (no checkpoint, no plan); it waits to store the plan.
    const letPlan = await holdPlanLock('race-a');
    const planning = plan('race-a');
    await waiters(1);
    // The single-process run starts meanwhile (no plan yet either), and waits before its run lock.
    const letRun = await holdCreationLock();
    const running = cli(['statements', 'backfill', '--pg', db.url, '--run-id', 'race-a']);
    await waiters(2);
    await letPlan();
    const stored = (await planning)._unsafeUnwrap();
    await letRun();
    const run = await running;
    expect(run.stderr).toContain(
      `run race-a is a planned run (${stored.ranges.length} ranges); work it with statements worker or statements backfill --workers N, see it with statements report --run-id race-a, or use another run id.`,
    );
    expect(run.code).toBe(2);
    expect(checkpointed('race-a')).toBe('0');
  }, 120_000);

  it('a plan whose checks passed before a single-process run took the run id is refused while that run holds it', async () => {
    const letPlan = await holdPlanLock('race-b');
    const planning = plan('race-b');
    await waiters(1);
    // The single-process run takes the run lock, commits a batch and pauses.
    let paused: () => void = () => undefined;
    const atFirstBatch = new Promise<void>((r) => (paused = r));
    let goOn: () => void = () => undefined;
    const gate = new Promise<void>((r) => (goOn = r));
    const running = backfillSingleProcess(db.url, {
      runId: 'race-b',
      throttle: async () => {
        paused();
        await gate;
      },
    });
    await atFirstBatch;
    await letPlan();
    const refused = (await planning)._unsafeUnwrapErr();
    expect(refused.code).toBe('LOCKED');
    expect(refused.message).toMatch(
      /^run race-b is held by backend pid \d+, .*: a single-process run of it \(let it finish, then resume or report it without --workers: statements backfill --run-id race-b\) or a planner of it with another runs table than "vex"."statement_backfill_runs"; or plan under another run id\.$/,
    );
    expect(planned('race-b')).toBe('0');
    goOn();
    expect((await running)._unsafeUnwrap().text).toMatch(/^Backfill completed: evaluated 200,/);
    expect(psql(db.url, "SELECT count(*) FROM pgboss.job WHERE data->>'runId' = 'race-b'")).toBe('0');
  }, 120_000);

  it('a plan whose checks passed before a single-process run ran to its end is refused as that run', async () => {
    const letPlan = await holdPlanLock('race-c');
    const planning = plan('race-c');
    await waiters(1);
    expect((await backfillSingleProcess(db.url, { runId: 'race-c' }))._unsafeUnwrap().text).toMatch(/^Backfill completed: evaluated 200,/);
    await letPlan();
    const refused = (await planning)._unsafeUnwrapErr();
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).toMatch(/^run race-c is a single-process run \(completed\); resume or report it without --workers/);
    expect(planned('race-c')).toBe('0');
  }, 120_000);

  it('two planners of one new run id at once both get the one plan', async () => {
    const letPlan = await holdPlanLock('race-d');
    const first = plan('race-d');
    const second = plan('race-d');
    await waiters(2);
    await letPlan();
    const [a, b] = [(await first)._unsafeUnwrap(), (await second)._unsafeUnwrap()];
    expect(b.ranges).toEqual(a.ranges);
    expect(b.plannedAt).toEqual(a.plannedAt);
    expect(planned('race-d')).toBe('1');
  }, 120_000);

  it('a planner of a new run id with another runs table, while a planner holds its run lock, is refused without calling that a single-process run', async () => {
    const store = (runs: string) => planStoreConfig(db.url, runs);
    const x = store('vex.runs_x');
    (await planBackfill(x, { runId: 'race-f0', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
    const letPlan = await holdPlanLock('race-f', '"vex"."runs_x"');
    const first = planBackfill(x, { runId: 'race-f', batchSize: 50, rangeSize: 100 });
    await waiters(1);
    await whileStoringPlan('vex.runs_x', letPlan, async () => {
      const second = (await planBackfill(store('vex.runs_y'), { runId: 'race-f', batchSize: 50, rangeSize: 120 }))._unsafeUnwrapErr();
      expect(second.code).toBe('LOCKED');
      expect(second.message).toMatch(
        /^run race-f is held by backend pid \d+, .*: a single-process run of it \(.*\) or a planner of it with another runs table than "vex"."runs_y"; or plan under another run id\.$/,
      );
    });
    expect((await first).isOk()).toBe(true);
  }, 120_000);

  it('a planner SIGKILLed while it holds the run lock to store its plan leaves the run id free at once', async () => {
    const letPlan = await holdPlanLock('race-e');
    let pid = 0;
    const planner = cli(['statements', 'plan', '--pg', db.url, '--run-id', 'race-e', '--batch-size', '50'], { onSpawn: (p) => (pid = p) });
    await waiters(1);
    await whileStoringPlan('vex.statement_backfill_runs', letPlan, async () => {
      // Meanwhile a single-process run of the id is refused: the planner holds it.
      expect((await backfillSingleProcess(db.url, { runId: 'race-e' }))._unsafeUnwrapErr().code).toBe('LOCKED');
      process.kill(pid, 'SIGKILL');
      await planner;
    });
    // Its run lock went with its connection (PostgreSQL notices the dead client at once), and its plan was never committed.
    await until(
      `SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
         AND classid::bigint = (hashtext('"vex"."statement_backfill_checkpoints"')::bigint & 4294967295)
         AND objid::bigint = (hashtext('race-e')::bigint & 4294967295)`,
    );
    expect((await backfillSingleProcess(db.url, { runId: 'race-e' }))._unsafeUnwrap().text).toMatch(/^Backfill completed: evaluated 200,/);
    expect(planned('race-e')).toBe('0');
  }, 120_000);
});

/**
 * Lets a planner held at its plan lock (`letPlan`) on, stops it at storing
 * its plan in `runs` (under its run lock, by a SHARE lock on the table), and
 * runs `meanwhile` there; then lets it go on.
 */
async function whileStoringPlan(runs: string, letPlan: () => Promise<void>, meanwhile: () => Promise<void>): Promise<void> {
  const tables = new pg.Client({ connectionString: db.url });
  await tables.connect();
  try {
    await tables.query('BEGIN');
    await tables.query(`LOCK TABLE ${runs} IN SHARE MODE`);
    await letPlan();
    await until("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'relation'");
    await meanwhile();
    await tables.query('ROLLBACK');
  } finally {
    await tables.end();
  }
}

/** Waits until `sql` (one count or boolean) reads non-zero and true. */
async function until(sql: string): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (!['0', 'f'].includes(psql(db.url, sql))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for: ${sql}`);
}
