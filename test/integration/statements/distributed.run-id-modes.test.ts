/**
 * One run id, two modes: a single-process run's id cannot be planned (the
 * plan would neither resume it nor match it), and a planned run's id cannot
 * be run as a single process. Each refusal says what to do instead, and the
 * run it protects then ends as it would have.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { backfillSingleProcess, seedDocuments } from './helpers.js';
import { cli } from '../cli/cli-harness.js';
import { planBackfill } from '../../../src/statements/distributed.js';

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
});
