/**
 * A run is worked by workers of the kit version that planned it only: a
 * worker of another version (a rolling deploy) hands its jobs back
 * untouched, so the run never mixes two versions' normalizer output and
 * its report hash still equals a single-process run's. Plans stored before
 * plans recorded a version are worked as before.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { backfillSingleProcess, psql, seedDocuments } from './helpers.js';
import { type CliRun, cli, jsonOf } from '../cli/cli-harness.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import type { Logger } from '../../../src/_internals/logger.js';
import type { BackfillSummary } from '../../../src/statements/summary.js';

const OTHER = '0.0.1-other';
/** This package's version, read from package.json here, not through the code under test. */
const kitVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const seed = { seed: 29, count: 420, brokenRatio: 0.03 };
let single: TestDatabase;
let reference: BackfillSummary;

beforeAll(async () => {
  single = await createTestDatabase();
  await seedDocuments(single.url, seed);
  reference = (await backfillSingleProcess(single.url, { runId: 'one' }))._unsafeUnwrap();
}, 60_000);
afterAll(async () => {
  await single?.drop();
});

/** Sets the version the run's plan records, as if another release (or, with `null`, one from before plans recorded it) planned it. */
const plannedBy = (url: string, runId: string, version: string | null): string =>
  psql(url, `UPDATE vex.statement_backfill_runs SET kit_version = ${version === null ? 'NULL' : `'${version}'`} WHERE run_id = '${runId}'`);

/** The run's jobs as `state:retries:started` counts, and the ranges any worker noted as started. */
function untouched(url: string, runId: string): { jobs: string; started: string } {
  return {
    jobs: psql(
      url,
      `SELECT k || '=' || count(*) FROM (SELECT state || ':' || retry_count || ':' || (started_on IS NOT NULL) AS k FROM pgboss.job WHERE data->>'runId' = '${runId}') j GROUP BY k ORDER BY k`,
    ),
    started: psql(url, `SELECT count(started_at) FROM vex.statement_backfill_ranges WHERE run_id = '${runId}'`),
  };
}

/**
 * A rolling deploy's queue: run a (2 ranges, in tables of its own) planned
 * by another version, then run b (the reference documents) by this one.
 */
async function rollingDeployQueue(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await seedDocuments(db.url, seed);
  await seedDocuments(db.url, { seed: 31, count: 60, brokenRatio: 0 }, 'other.raw_documents');
  const config = { connectionString: db.url };
  const tables = { raw: 'other.raw_documents', statements: 'other.statements', documents: 'other.documents' };
  const a = (
    await planBackfill(
      { ...config, tables: { ...tables, checkpoints: 'other.checkpoints', failures: 'other.failures' } },
      { runId: 'a', batchSize: 50, rangeSize: 30 },
    )
  )._unsafeUnwrap();
  expect(a.ranges).toHaveLength(2);
  plannedBy(db.url, 'a', OTHER);
  (await planBackfill(config, { runId: 'b', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
  return db;
}

/**
 * Runs `statements worker --until-done <args>` on {@link rollingDeployQueue}
 * and checks it exits with `code`, run b completed with the single-process
 * hash, and run a's jobs untouched.
 */
async function workerOnRollingDeploy(args: readonly string[], code: number): Promise<CliRun> {
  const db = await rollingDeployQueue();
  try {
    const queued = untouched(db.url, 'a');
    const worker = await cli(['statements', 'worker', '--until-done', ...args], { env: { PGURI: db.url }, killAfterMs: 60_000 });
    expect(worker.code, worker.stderr).toBe(code);
    const b = (await backfillReport({ connectionString: db.url }, 'b'))._unsafeUnwrap();
    expect(b.state).toBe('completed');
    expect(b.summary.reportSha256).toBe(reference.reportSha256);
    expect(untouched(db.url, 'a')).toEqual(queued);
    return worker;
  } finally {
    await db.drop();
  }
}

const refusal = (runId: string) =>
  new RegExp(
    `run ${runId} was planned by backfill-kit ${OTHER.replaceAll('.', '\\.')}, and this is backfill-kit ${kitVersion().replaceAll('.', '\\.')}: their normalizers may differ`,
  );

describe('the kit version that planned a distributed run', () => {
  it('a worker of another version hands the jobs back untouched; the planner’s version completes the run with the single-process hash', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, seed);
      // Another run, in tables of its own, that the long-running worker keeps serving.
      await seedDocuments(db.url, { seed: 31, count: 60, brokenRatio: 0 }, 'other.raw_documents');
      const config = { connectionString: db.url };
      const plan = (await planBackfill(config, { runId: 'v', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
      expect(kitVersion()).toMatch(/^\d+\.\d+\.\d+/);
      expect(plan.kitVersion).toBe(kitVersion());
      expect(psql(db.url, "SELECT kit_version FROM vex.statement_backfill_runs WHERE run_id = 'v'")).toBe(kitVersion());
      plannedBy(db.url, 'v', OTHER);
      const queued = untouched(db.url, 'v');
      expect(queued.jobs).toBe(`created:0:false=${plan.ranges.length}`);

      // A worker that would wait for the run fails at once, naming both versions and what to do.
      for (const options of [{ untilDone: true }, { untilDone: true, runId: 'v' }, { untilDone: true, concurrency: 3 }]) {
        const refused = await runBackfillWorker(config, options);
        expect(refused.isErr() && refused.error.code, JSON.stringify(options)).toBe('INVALID_ARGUMENT');
        const { message, context } = refused._unsafeUnwrapErr();
        expect(message).toMatch(refusal('v'));
        // Of that run: at once; of the whole queue: once no other job is left, with the run's jobs all still pending.
        const stops =
          options.runId === 'v' ? 'handed its job back untouched and stops' : `and stops with ${plan.ranges.length} of them pending`;
        expect(message).toMatch(
          new RegExp(
            `${stops}; run workers of backfill-kit ${OTHER.replaceAll('.', '\\.')} for it, or plan a new run id with this version`,
          ),
        );
        expect(context).toMatchObject({ runId: 'v', plannedKitVersion: OTHER, kitVersion: kitVersion() });
        expect(untouched(db.url, 'v')).toEqual(queued);
      }
      const running = (await backfillReport(config, 'v'))._unsafeUnwrap();
      expect(running).toMatchObject({ state: 'running', kitVersion: OTHER });
      expect(running.summary.evaluated).toBe(0);

      // A long-running worker warns once, leaves the run's jobs queued, and works another run meanwhile.
      const tables = { raw: 'other.raw_documents', statements: 'other.statements', documents: 'other.documents' };
      const otherTables = { ...tables, checkpoints: 'other.checkpoints', failures: 'other.failures' };
      const warnings: string[] = [];
      const logger: Logger = { info: () => undefined, warn: (m) => void warnings.push(m), error: () => undefined };
      const stop = new AbortController();
      const serving = runBackfillWorker({ ...config, logger }, { signal: stop.signal, concurrency: 2 });
      const w = (await planBackfill({ ...config, tables: otherTables }, { runId: 'w', batchSize: 50, rangeSize: 30 }))._unsafeUnwrap();
      expect(w.kitVersion).toBe(kitVersion());
      await vi.waitFor(async () => expect((await backfillReport(config, 'w'))._unsafeUnwrap().state).toBe('completed'), {
        timeout: 60_000,
        interval: 100,
      });
      stop.abort();
      const served = (await serving)._unsafeUnwrap();
      expect(served.runs).toEqual(['w']);
      expect(served.ranges).toBe(w.ranges.length);
      expect((await backfillReport(config, 'w'))._unsafeUnwrap().state).toBe('completed');
      const refusedWarnings = warnings.filter((m) => refusal('v').test(m));
      expect(refusedWarnings).toHaveLength(1);
      expect(refusedWarnings[0]).toMatch(
        /this worker hands its jobs back untouched and takes other runs' jobs; run workers of backfill-kit/,
      );
      // Handed back behind other runs' jobs (so the worker reached them) but ready at once, neither tried nor started.
      expect(untouched(db.url, 'v')).toEqual(queued);
      expect(psql(db.url, "SELECT count(*) FROM pgboss.job WHERE data->>'runId' = 'v' AND (priority >= 0 OR start_after > now())")).toBe(
        '0',
      );

      // A worker of the planner's version completes the run as if nothing had happened.
      plannedBy(db.url, 'v', kitVersion());
      const done = (await runBackfillWorker(config, { untilDone: true, runId: 'v' }))._unsafeUnwrap();
      expect(done.ranges).toBe(plan.ranges.length);
      const report = (await backfillReport(config, 'v'))._unsafeUnwrap();
      expect(report).toMatchObject({ state: 'completed', kitVersion: kitVersion() });
      expect(report.summary.text).toBe(reference.text);
      expect(report.summary.reportSha256).toBe(reference.reportSha256);
    } finally {
      await db.drop();
    }
  }, 120_000);

  it('a worker of the planner’s version gets at once the jobs a worker of another version handed back, none counted as a retry', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, seed);
      const config = { connectionString: db.url };
      const plan = (await planBackfill(config, { runId: 'h', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
      expect(plan.ranges.length).toBeGreaterThan(2);
      // A worker of another version (a rolling deploy) reads the plan as another version's and hands every job back.
      plannedBy(db.url, 'h', OTHER);
      const warnings: string[] = [];
      const logger: Logger = { info: () => undefined, warn: (m) => void warnings.push(m), error: () => undefined };
      const stop = new AbortController();
      const stray = runBackfillWorker({ ...config, logger }, { signal: stop.signal, concurrency: 2 });
      await vi.waitFor(() => expect(warnings).not.toHaveLength(0), { timeout: 60_000, interval: 100 });
      expect(warnings.filter((m) => refusal('h').test(m))).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 1000));
      // The planner's version: a worker of it, started now, must not wait for the handed-back jobs. Those were delayed
      // 30 s each: a worker waiting for them is stopped by its 20 s signal with ranges left, whatever the machine's speed.
      plannedBy(db.url, 'h', kitVersion());
      const done = (await runBackfillWorker(config, { untilDone: true, runId: 'h', signal: AbortSignal.timeout(20_000) }))._unsafeUnwrap();
      stop.abort();
      expect((await stray)._unsafeUnwrap().ranges).toBe(0);
      expect(done.ranges).toBe(plan.ranges.length);
      expect(
        psql(
          db.url,
          "SELECT k || '=' || count(*) FROM (SELECT state || ':' || retry_count AS k FROM pgboss.job WHERE data->>'runId' = 'h') j GROUP BY k",
        ),
      ).toBe(`completed:0=${plan.ranges.length}`);
      const report = (await backfillReport(config, 'h'))._unsafeUnwrap();
      expect(report.summary.reportSha256).toBe(reference.reportSha256);
    } finally {
      await db.drop();
    }
  }, 120_000);

  it('a whole-queue --until-done worker works every run of its version, then fails naming the run of another version still pending', async () => {
    const worker = await workerOnRollingDeploy([], 2);
    expect(worker.stderr).toMatch(refusal('a'));
    expect(worker.stderr).toMatch(
      /did every job of the runs it works, left this run's jobs untouched, and stops with 2 of them pending; run workers of backfill-kit 0\.0\.1-other for it, or plan a new run id with this version/,
    );
    // Warned once while it worked run b.
    expect(worker.stderr.match(/hands its jobs back untouched and takes other runs' jobs/g)).toHaveLength(1);
  }, 120_000);

  it('a whole-queue untilDone worker whose other-version run was finished meanwhile by that version returns ok', async () => {
    const db = await rollingDeployQueue();
    try {
      const config = { connectionString: db.url };
      let handedBack = 0;
      const logger: Logger = {
        info: () => undefined,
        error: () => undefined,
        warn: (m) => {
          if (!refusal('a').test(m)) return;
          handedBack += 1;
          // The other version's workers finish run a meanwhile (its jobs leave the queue as done).
          psql(db.url, "UPDATE pgboss.job SET state = 'completed', completed_on = now() WHERE data->>'runId' = 'a'");
        },
      };
      const done = (
        await runBackfillWorker({ ...config, logger }, { untilDone: true, signal: AbortSignal.timeout(60_000) })
      )._unsafeUnwrap();
      expect(handedBack).toBe(1);
      expect(done.runs).toEqual(['b']);
      const b = (await backfillReport(config, 'b'))._unsafeUnwrap();
      expect(String(done.ranges)).toBe(psql(db.url, "SELECT count(*) FROM vex.statement_backfill_ranges WHERE run_id = 'b'"));
      expect(b.state).toBe('completed');
      expect(b.summary.reportSha256).toBe(reference.reportSha256);
    } finally {
      await db.drop();
    }
  }, 120_000);

  it('a whole-queue untilDone worker does not wait for the jobs of another version’s run that its workers are running', async () => {
    const db = await rollingDeployQueue();
    // Both of run a's jobs running on that version's workers, whose heartbeats keep them theirs: no slot of this worker
    // ever gets one of them to hand back, and they could run for hours.
    const running = (): string =>
      psql(
        db.url,
        "UPDATE pgboss.job SET state = 'active', started_on = coalesce(started_on, now()), heartbeat_on = now() WHERE data->>'runId' = 'a'",
      );
    running();
    const heartbeats = setInterval(running, 1000);
    try {
      const config = { connectionString: db.url };
      const worked = runBackfillWorker(config, { untilDone: true });
      const first = await Promise.race([worked, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 30_000))]);
      clearInterval(heartbeats);
      if (first === 'waiting') {
        // The other version's workers finish run a, so that the worker ends.
        psql(db.url, "UPDATE pgboss.job SET state = 'completed', completed_on = now() WHERE data->>'runId' = 'a'");
        await worked;
      }
      expect(first, 'still waiting for run a 30 s after it started').not.toBe('waiting');
      const refused = (first as Awaited<typeof worked>)._unsafeUnwrapErr();
      expect(refused.code).toBe('INVALID_ARGUMENT');
      expect(refused.message).toMatch(refusal('a'));
      expect(refused.message).toMatch(/and stops with 2 of them pending/);
      const b = (await backfillReport(config, 'b'))._unsafeUnwrap();
      expect(b.state).toBe('completed');
      expect(b.summary.reportSha256).toBe(reference.reportSha256);
    } finally {
      clearInterval(heartbeats);
      await db.drop();
    }
  }, 120_000);

  it('a whole-queue --until-done worker whose own run failed for good reports RANGE_FAILED (exit 4), not the jobs it left to another version', async () => {
    const db = await rollingDeployQueue();
    try {
      // One document of run b breaks a CHECK constraint, and its range has no retry left.
      const bad = psql(db.url, 'SELECT digest FROM vex.raw_documents ORDER BY retrieved_at, digest OFFSET 150 LIMIT 1').trim();
      psql(db.url, `ALTER TABLE vex.statements ADD CONSTRAINT no_bad CHECK (document_digest <> '${bad}')`);
      psql(db.url, "UPDATE pgboss.job SET retry_limit = 0 WHERE data->>'runId' = 'b'");
      const worker = await cli(['statements', 'worker', '--until-done'], { env: { PGURI: db.url }, killAfterMs: 60_000 });
      expect(worker.code, worker.stderr).toBe(4);
      expect(worker.stderr).toMatch(/error RANGE_FAILED: .*run b/);
      expect(worker.stderr).not.toMatch(/stops with 2 of them pending/);
    } finally {
      await db.drop();
    }
  }, 120_000);

  it('a --until-done --run-id worker of its own version’s run finishes it and exits 0 while another version’s run shares the queue', async () => {
    await workerOnRollingDeploy(['--run-id', 'b'], 0);
  }, 120_000);

  it('on the CLI: the worker and a resume by backfill --workers refuse it, report reads it, and a plan that recorded no version is worked as before', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, seed);
      const env = { PGURI: db.url };
      const flags = ['--run-id', 'c', '--batch-size', '50', '--range-size', '100'];
      expect((await cli(['statements', 'plan', ...flags], { env })).code).toBe(0);
      plannedBy(db.url, 'c', OTHER);
      const queued = untouched(db.url, 'c');
      expect(queued.jobs).toMatch(/^created:0:false=\d+$/);

      const worker = await cli(['statements', 'worker', '--until-done'], { env });
      expect(worker.code, worker.stderr).toBe(2);
      expect(worker.stderr).toMatch(refusal('c'));
      expect(worker.stderr).toMatch(
        /run workers of backfill-kit 0\.0\.1-other for it, or plan a new run id with this version \(statements plan --run-id <new id>\)/,
      );

      const resume = await cli(['statements', 'backfill', '--workers', '2', ...flags], { env });
      expect(resume.code, resume.stderr).toBe(2);
      expect(resume.stderr).toMatch(refusal('c'));
      expect(resume.stderr).toMatch(
        /resume it with backfill-kit 0\.0\.1-other \(the same command\), or backfill under a new --run-id with this version\. Nothing was enqueued or backfilled\./,
      );
      expect(untouched(db.url, 'c')).toEqual(queued);

      const report = await cli(['statements', 'report', '--run-id', 'c', '--json'], { env });
      expect(report.code, report.stderr).toBe(7);
      expect(report.stderr).toMatch(/run c was planned by backfill-kit 0\.0\.1-other, and only workers of that version work it/);
      expect(jsonOf(report).report).toMatchObject({ state: 'running', kitVersion: OTHER });

      // A plan stored before plans recorded their version, in a runs table from then: worked, resumed and reported as before.
      psql(db.url, 'ALTER TABLE vex.statement_backfill_runs DROP COLUMN kit_version');
      const old = await cli(['statements', 'worker', '--until-done', '--run-id', 'c'], { env });
      expect(old.code, old.stderr).toBe(0);
      const resumed = await cli(['statements', 'backfill', '--workers', '2', ...flags, '--json'], { env });
      expect(resumed.code, resumed.stderr).toBe(4);
      const final = jsonOf(resumed).report as { kitVersion: unknown; summary: BackfillSummary };
      expect(final.kitVersion).toBeNull();
      expect(final.summary.reportSha256).toBe(reference.reportSha256);
      // Planning (the resume) added the column back; the old plan keeps NULL.
      expect(psql(db.url, "SELECT coalesce(kit_version, 'NULL') FROM vex.statement_backfill_runs WHERE run_id = 'c'")).toBe('NULL');
      expect(resumed.stdout + resumed.stderr).not.toMatch(/planned by backfill-kit/);
    } finally {
      await db.drop();
    }
  }, 120_000);
});
