/**
 * A worker stopped the documented way (its signal: SIGINT/SIGTERM in
 * `statements worker`) stops between batches and hands its job back
 * untried: the range is not reported as failing, the job spends none of
 * its retries and waits no backoff, and the next worker resumes the range
 * from its checkpoint.
 */
import { beforeAll, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { psql, untilEvaluated, useSeededDatabase } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { backfillProgress } from '../../../src/statements/distributed-progress.js';

let db: TestDatabase;
useSeededDatabase({ seed: 12, count: 300, brokenRatio: 0 }, (created) => (db = created));
beforeAll(async () => {
  (await planBackfill({ connectionString: db.url }, { runId: 'r', batchSize: 5, rangeSize: 300 }))._unsafeUnwrap();
});

it('a worker stopped with its signal hands its job back without a failed attempt; the next worker resumes the range', async () => {
  // 50 documents in, the range still has 50 batches to go: the stop lands long before its end, and the last
  // worker has only those left (with 600 documents, it alone took half a minute on a loaded machine).
  for (const stopAfter of [1, 50]) {
    const stop = new AbortController();
    const working = runBackfillWorker({ connectionString: db.url }, { signal: stop.signal });
    await untilEvaluated(db, 'r', stopAfter);
    stop.abort(); // what SIGTERM does in `statements worker`
    expect((await working)._unsafeUnwrap().retried).toBe(0);
    const progress = (await backfillProgress({ connectionString: db.url }, 'r'))._unsafeUnwrap();
    // Every job of the run (the one the worker held among them) is ready to be taken at once, with no attempt spent.
    const jobs = psql(
      db.url,
      "SELECT string_agg(DISTINCT state || ' ' || retry_count || ' ' || (start_after <= now()), ', ') FROM pgboss.job WHERE data->>'runId' = 'r'",
    );
    expect({ retrying: progress.retrying, jobs, state: progress.state }).toEqual({
      retrying: [],
      jobs: 'created 0 true',
      state: 'running',
    });
  }
  const resumedFrom = await untilEvaluated(db, 'r', 0);
  expect(resumedFrom).toBeGreaterThan(0);
  const last = (await runBackfillWorker({ connectionString: db.url }, { untilDone: true }))._unsafeUnwrap();
  expect(last.ranges).toBe((await backfillProgress({ connectionString: db.url }, 'r'))._unsafeUnwrap().ranges);
  expect((await backfillReport({ connectionString: db.url }, 'r'))._unsafeUnwrap().state).toBe('completed');
}, 60_000);
