/**
 * One run id, two modes: a single-process run's id cannot be planned (the
 * plan would neither resume it nor match it), and a planned run's id cannot
 * be run as a single process, nor planned again with another runs table
 * over the same store. Each refusal says what to do instead, and the run it
 * protects then ends as it would have.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { backfillSingleProcess, planStoreConfig, psql, seedDocuments } from './helpers.js';
import { cli } from '../cli/cli-harness.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';

let reference: TestDatabase;
let mixed: TestDatabase;
const seed = { seed: 23, count: 300, brokenRatio: 0.05 };

/** A single-process run of `runId`, aborted once `abortAt` documents are evaluated when given. */
function single(url: string, runId: string, abortAt?: number) {
  const stop = new AbortController();
  return backfillSingleProcess(url, {
    runId,
    signal: stop.signal,
    onProgress: (p) => {
      if (abortAt !== undefined && p.evaluated >= abortAt) stop.abort();
    },
  });
}

beforeAll(async () => {
  [reference, mixed] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  await Promise.all([seedDocuments(reference.url, seed), seedDocuments(mixed.url, seed)]);
});
afterAll(async () => {
  await Promise.all([reference?.drop(), mixed?.drop()]);
});

describe('one run id in both modes', () => {
  it('a single-process run is not planned over; resumed as one, it ends as an uninterrupted run', async () => {
    const whole = (await single(reference.url, 'mix'))._unsafeUnwrap();
    const interrupted = await single(mixed.url, 'mix', 100);
    expect(interrupted._unsafeUnwrapErr().code).toBe('ABORTED');

    const config = { connectionString: mixed.url };
    const planned = (await planBackfill(config, { runId: 'mix', batchSize: 50 }))._unsafeUnwrapErr();
    expect(planned.code).toBe('INVALID_ARGUMENT');
    expect(planned.message).toMatch(
      /run mix is a single-process run \(stopped after 100 documents\); resume or report it without --workers/,
    );

    const resumed = (await single(mixed.url, 'mix'))._unsafeUnwrap();
    expect(resumed.text).toBe(whole.text);
    expect(resumed.reportSha256).toBe(whole.reportSha256);
    // Completed, it is still refused.
    expect((await planBackfill(config, { runId: 'mix' }))._unsafeUnwrapErr().message).toMatch(/single-process run \(completed\)/);
  }, 120_000);

  it('a planned run is not run as a single process by the CLI', async () => {
    const config = { connectionString: mixed.url };
    const plan = (await planBackfill(config, { runId: 'spread', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
    const run = await cli(['statements', 'backfill', '--pg', mixed.url, '--run-id', 'spread']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `run spread is a planned run (${plan.ranges.length} ranges); work it with statements worker or statements backfill --workers N`,
    );
    // Another id runs as usual.
    expect((await cli(['statements', 'backfill', '--pg', mixed.url, '--run-id', 'other'])).code).toBe(4);
  }, 120_000);

  it("a single-process run is not planned over, with advice that names the run's own options", async () => {
    expect((await backfillSingleProcess(mixed.url, { runId: 'capped', maxDocuments: 50 }))._unsafeUnwrap().evaluated).toBe(50);
    const refused = (await planBackfill({ connectionString: mixed.url }, { runId: 'capped', maxDocuments: 50 }))._unsafeUnwrapErr();
    expect(refused.message).toBe(
      'run capped is a single-process run (completed); resume or report it without --workers (statements backfill --run-id capped --max-documents 50), or plan under another run id.',
    );
    // The advice works: the bare command would be refused for its other maxDocuments.
    expect((await backfillSingleProcess(mixed.url, { runId: 'capped', maxDocuments: 50 }))._unsafeUnwrap().evaluated).toBe(50);
  }, 120_000);

  it('a run id planned with one runs table is not planned again with another over the same checkpoints table', async () => {
    const store = (runs: string) => planStoreConfig(mixed.url, runs);
    const a = store('vex.runs_a');
    (await planBackfill(a, { runId: 'dup', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
    (await runBackfillWorker(a, { untilDone: true, runId: 'dup' }))._unsafeUnwrap();
    // With other bounds, its ranges would take plan a's completed checkpoints as their own and skip what they never covered.
    const second = (await planBackfill(store('vex.runs_b'), { runId: 'dup', batchSize: 50, rangeSize: 120 }))._unsafeUnwrapErr();
    expect(second.code).toBe('INVALID_ARGUMENT');
    // The runs table that holds its plan is named (its checkpoints refuse it too, should that table be gone).
    expect(second.message).toBe(
      "run dup is planned in runs table vex.runs_a over the same checkpoints table (vex.statement_backfill_checkpoints): plan, work and report it with that runs table (--runs-table vex.runs_a, and its ranges and workers tables), or plan under another run id; a second plan of it would share its ranges' checkpoints.",
    );
    expect(second.context['plannedRunsTable']).toBe('vex.runs_a');
    expect(psql(mixed.url, "SELECT count(*) FROM vex.runs_b WHERE run_id = 'dup'")).toBe('0');
    // With its own runs table it is the same plan again.
    expect((await planBackfill(a, { runId: 'dup', batchSize: 50, rangeSize: 100 })).isOk()).toBe(true);
  }, 120_000);

  it("a library single-process run is refused a planned run's id once a range of it has a checkpoint", async () => {
    const config = { connectionString: mixed.url };
    (await planBackfill(config, { runId: 'lib-planned', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
    (await runBackfillWorker(config, { untilDone: true, runId: 'lib-planned' }))._unsafeUnwrap();
    const run = (await single(mixed.url, 'lib-planned'))._unsafeUnwrapErr();
    expect(run.code).toBe('INVALID_ARGUMENT');
    expect(run.message).toBe(
      'run lib-planned is a planned run (its key ranges have checkpoints lib-planned#range-<n> in "vex"."statement_backfill_checkpoints"); work it with statements worker or statements backfill --workers N, see it with statements report --run-id lib-planned, or use another run id.',
    );
    expect(psql(mixed.url, "SELECT count(*) FROM vex.statement_backfill_checkpoints WHERE run_id = 'lib-planned'")).toBe('0');
  }, 120_000);

  it("a report asked for a key range's checkpoint id names the planned run it belongs to", async () => {
    const config = { connectionString: mixed.url };
    (await planBackfill(config, { runId: 'ranged', batchSize: 50, rangeSize: 100 }))._unsafeUnwrap();
    (await runBackfillWorker(config, { untilDone: true, runId: 'ranged' }))._unsafeUnwrap();
    // The range's checkpoint looks like a completed single-process run's, but no single-process run may take that id.
    const report = await cli(['statements', 'report', '--pg', mixed.url, '--run-id', 'ranged#range-2']);
    expect(report.code).toBe(2);
    expect(report.stderr).toContain(
      'run ranged#range-2 is key range 2 of the planned run ranged, not a run of its own: statements report --run-id ranged reports that run.',
    );
    expect((await cli(['statements', 'report', '--pg', mixed.url, '--run-id', 'ranged'])).code).toBe(4);
  }, 120_000);

  it('a report asked for a run id with an invisible character says so, instead of naming a run that prints like a planned one', async () => {
    (await planBackfill({ connectionString: mixed.url }, { runId: 'seen', rangeSize: 100 }))._unsafeUnwrap();
    const report = await cli(['statements', 'report', '--pg', mixed.url, '--run-id', 'seen\u200b']);
    expect(report.code).toBe(2);
    expect(report.stderr).toContain(
      '--run-id "seen\\u200b" holds an invisible character (U+200B); type the run id in visible characters only.',
    );
  }, 120_000);

  it("a worker told to wait for a single-process run's id is refused at once: no plan can take that id", async () => {
    expect((await single(mixed.url, 'solo')).isOk()).toBe(true);
    const worker = await runBackfillWorker(
      { connectionString: mixed.url },
      { untilDone: true, runId: 'solo', signal: AbortSignal.timeout(30_000) },
    );
    expect(worker.isErr() && worker.error.code).toBe('INVALID_ARGUMENT');
    expect(worker.isErr() && worker.error.message).toMatch(/^run solo is a single-process run \(completed\), not a planned one/);
  }, 120_000);
});
