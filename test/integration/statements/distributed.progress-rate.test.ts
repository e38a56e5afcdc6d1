/**
 * A planned run that stood still for hours (its workers stopped overnight)
 * and was then resumed: a progress reader's rate and ETA are those of the
 * work it sees being done, not the run's average since its first range
 * started, which counts the hours nothing ran.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { psql, untilEvaluated, useSeededDatabase } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { BackfillProgressReader } from '../../../src/statements/distributed-progress.js';

let db: TestDatabase;
useSeededDatabase({ seed: 31, count: 600, brokenRatio: 0 }, (created) => (db = created));

/** Runs one worker until the run has evaluated at least `atLeast` documents, then stops it between batches. */
async function workUntil(atLeast: number): Promise<void> {
  const stop = new AbortController();
  const working = runBackfillWorker({ connectionString: db.url }, { signal: stop.signal, concurrency: 1 });
  await untilEvaluated(db, 'gap', atLeast);
  stop.abort();
  (await working)._unsafeUnwrap();
}

it('after a long pause, the rate and ETA reflect the documents evaluated since, not the hours nothing ran', async () => {
  const config = { connectionString: db.url };
  (await planBackfill(config, { runId: 'gap', batchSize: 10, rangeSize: 600 }))._unsafeUnwrap();
  await workUntil(50);
  // The run first started ten hours ago; its workers were stopped overnight.
  psql(db.url, "UPDATE vex.statement_backfill_ranges SET started_at = started_at - interval '10 hours' WHERE run_id = 'gap'");

  await using reader = new BackfillProgressReader(config);
  const from = Date.now();
  const first = (await reader.read('gap'))._unsafeUnwrap();
  await workUntil(first.done + 200);
  const second = (await reader.read('gap'))._unsafeUnwrap();
  const seconds = (Date.now() - from) / 1000;
  expect(second.state).toBe('running');
  // The reader measured its documents over less time than the test did around both reads.
  const floor = (second.done - first.done) / seconds;
  expect(floor).toBeGreaterThan(0);
  expect(second.documentsPerSecond).toBeGreaterThanOrEqual(floor);
  expect(second.etaSeconds).toBeDefined();
  expect(second.etaSeconds).toBeLessThanOrEqual((second.total - second.done) / floor);
}, 120_000);
