/**
 * The jobs schema flag: a bad one is a usage error before anything
 * connects, and a worker that looks in a jobs schema where no run was ever
 * planned says so instead of silently reporting 0 ranges; one waiting for a
 * run planned with nothing to do (no range, so no job) does not.
 */
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../support/pg.js';
import { cli, jsonOf, refusedAtOnce } from '../cli/cli-harness.js';
import { psql, seedDocuments } from './helpers.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';

/** Nothing listens here: a command that tried to connect would fail with DB_CONNECTION, not a usage error. */
const nowhere = 'postgres://postgres@127.0.0.1:1/nowhere';

/** The commands that take a jobs schema, each given `schema` and a server where nothing listens. */
const commands = ['worker', 'plan', 'report'];
const withJobsSchema = (schema: string) =>
  Promise.all(
    commands.map((command) =>
      cli([
        'statements',
        command,
        '--run-id',
        'x',
        ...(command === 'worker' ? ['--until-done'] : []),
        '--jobs-schema',
        schema,
        '--pg',
        nowhere,
      ]),
    ),
  );

describe('--jobs-schema', () => {
  it('refuses a jobs schema that is not a plain identifier with INVALID_IDENTIFIER (exit 2) before connecting', async () => {
    const runs = await withJobsSchema('Bad-Schema');
    for (const [i, run] of runs.entries()) {
      expect(run.code, `${commands[i]}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(/INVALID_IDENTIFIER.*--jobs-schema "Bad-Schema" is not a plain identifier/);
    }
    const lib = await runBackfillWorker({ connectionString: nowhere, jobsSchema: 'Bad-Schema' }, { untilDone: true });
    expect(lib.isErr() && lib.error.code).toBe('INVALID_IDENTIFIER');
  }, 60_000);

  it('refuses a jobs schema longer than pg-boss takes (50 bytes) with INVALID_IDENTIFIER (exit 2) before connecting', async () => {
    // A plain identifier PostgreSQL takes (63 bytes at most), which pg-boss refused only once a planner had created its tables.
    const long = `jobs_${'x'.repeat(46)}`;
    expect(Buffer.byteLength(long)).toBe(51);
    const runs = await withJobsSchema(long);
    for (const [i, run] of runs.entries()) {
      expect(run.code, `${commands[i]}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toContain(
        `INVALID_IDENTIFIER: --jobs-schema "${long}" is longer than 50 bytes, the most the job engine (pg-boss) takes for its schema; name a shorter one.`,
      );
    }
    const lib = await runBackfillWorker({ connectionString: nowhere, jobsSchema: long }, { untilDone: true });
    expect(lib.isErr() && lib.error.code).toBe('INVALID_IDENTIFIER');
    // 50 bytes is taken.
    const fifty = await cli(['statements', 'plan', '--run-id', 'x', '--jobs-schema', long.slice(0, 50), '--pg', nowhere]);
    expect(fifty.code, fifty.stderr).toBe(6);
  }, 60_000);

  it('is refused with the other job-engine flags by a single-process backfill, as --run-id is by a worker without --until-done', async () => {
    const cases: [string[], RegExp][] = [
      [['backfill', '--range-size', 'abc'], /--range-size applies only with --workers N: add --workers, or leave it out\./],
      [
        ['backfill', '--jobs-schema', 'jobs', '--heartbeat-seconds', '20'],
        /--jobs-schema, --heartbeat-seconds apply only with --workers N/,
      ],
      [['backfill', '--reconnect-seconds', '5'], /--reconnect-seconds applies only with --workers N/],
      [['worker', '--run-id', 'x'], /--run-id applies only with --until-done: add --until-done, or leave it out\./],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(['statements', ...args, '--pg', nowhere])));
    for (const [i, [args, message]] of cases.entries()) {
      expect(runs[i]!.code, `${args.join(' ')}: ${runs[i]!.stderr}`).toBe(2);
      expect(runs[i]!.stderr).toMatch(message);
    }
  }, 60_000);

  it('a worker that finds no job of any run in its jobs schema warns, naming the schema and the flag', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, { seed: 5, count: 300, brokenRatio: 0 });
      const env = { PGURI: db.url };
      expect((await cli(['statements', 'plan', '--run-id', 'p', '--range-size', '100', '--jobs-schema', 'jobs'], { env })).code).toBe(0);
      const forgot = await cli(['statements', 'worker', '--until-done', '--json'], { env });
      expect(forgot.code).toBe(0);
      expect(jsonOf(forgot).report.ranges).toBe(0);
      expect(forgot.stderr).toMatch(/no job of any planned run is in jobs schema "pgboss".*--jobs-schema/);
      const right = await cli(['statements', 'worker', '--until-done', '--json', '--jobs-schema', 'jobs'], { env });
      expect(right.code).toBe(0);
      expect(jsonOf(right).report.ranges).toBe(3);
      expect(right.stderr).not.toMatch(/no job of any planned run/);
      // Once the run's jobs are done, a worker of the right schema finds them (completed) and does not warn.
      const late = await cli(['statements', 'worker', '--until-done', '--json', '--jobs-schema', 'jobs'], { env });
      expect(jsonOf(late).report.ranges).toBe(0);
      expect(late.stderr).not.toMatch(/no job of any planned run/);
      // A run with nothing to do (no document retrieved since) has no job: waiting for it is no reason to doubt the flags.
      const future = ['--retrieved-since', '2999-01-01T00:00:00Z', '--jobs-schema', 'idle_jobs'];
      expect((await cli(['statements', 'plan', '--run-id', 'none', ...future], { env })).code).toBe(0);
      for (const args of [
        ['statements', 'worker', '--until-done', '--run-id', 'none', '--jobs-schema', 'idle_jobs'],
        ['statements', 'backfill', '--workers', '1', '--run-id', 'none-too', ...future],
      ]) {
        const empty = await cli(args, { env });
        expect(empty.code, empty.stderr).toBe(0);
        expect(empty.stderr).not.toMatch(/no job of any planned run/);
      }
      // A report looking in a schema pg-boss was never installed in names the one the run was planned with.
      const wrong = await cli(['statements', 'report', '--run-id', 'p', '--jobs-schema', 'nosuch'], { env });
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(
        /run p was planned with jobs schema "jobs", where its jobs are, not "nosuch"; give --jobs-schema jobs\./,
      );
    } finally {
      await db.drop();
    }
  }, 120_000);

  it('a run remembers its jobs schema: a replan, a report or a worker waiting for it that names another is refused at once', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, { seed: 6, count: 300, brokenRatio: 0 });
      const env = { PGURI: db.url };
      expect((await cli(['statements', 'plan', '--run-id', 'q', '--range-size', '100', '--jobs-schema', 'jobs_a'], { env })).code).toBe(0);
      // Replanned with another schema, the run's ranges were queued a second time there, for other workers to take.
      const replan = await cli(['statements', 'plan', '--run-id', 'q', '--range-size', '100', '--jobs-schema', 'jobs_b'], { env });
      expect(replan.code, replan.stderr).toBe(2);
      expect(replan.stderr).toMatch(/run q was planned with --jobs-schema jobs_a; plan it again with the same, or use a new --run-id\./);
      expect(
        psql(db.url, "SELECT to_regclass('jobs_b.job') IS NULL OR (SELECT count(*) = 0 FROM jobs_b.job WHERE data->>'runId' = 'q')"),
      ).toBe('t');
      // It used to report the run as stalled, with no job queued, and advise planning it again.
      const report = await cli(['statements', 'report', '--run-id', 'q'], { env });
      expect(report.code, report.stderr).toBe(2);
      expect(report.stderr).toMatch(
        /run q was planned with jobs schema "jobs_a", where its jobs are, not "pgboss"; give --jobs-schema jobs_a\./,
      );
      // A worker waiting for the run in another schema used to wait for ever.
      const worker = await refusedAtOnce(['statements', 'worker', '--until-done', '--run-id', 'q', '--jobs-schema', 'jobs_b'], env);
      expect(worker.stderr).toMatch(/run q was planned with jobs schema "jobs_a", where its jobs are, not "jobs_b"/);
      const right = await cli(['statements', 'worker', '--until-done', '--run-id', 'q', '--jobs-schema', 'jobs_a'], { env });
      expect(right.code, right.stderr).toBe(0);
      expect((await cli(['statements', 'report', '--run-id', 'q', '--jobs-schema', 'jobs_a'], { env })).code).toBe(0);
    } finally {
      await db.drop();
    }
  }, 180_000);
});
