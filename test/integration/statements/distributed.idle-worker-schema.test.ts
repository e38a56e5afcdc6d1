/**
 * A worker without `untilDone` (`statements worker`) waits for jobs for
 * ever. Started with a jobs schema where no run was ever planned, say a
 * mistyped `--jobs-schema`, it waited without a word. After ten seconds
 * without a job it now says so, naming the jobs schema and runs table it
 * watches; one watching the schema the runs were planned in does not.
 */
import { describe, expect, it, vi } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 7, count: 20, brokenRatio: 0 }, (created) => (db = created));

function recording() {
  const warnings: string[] = [];
  const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
  return { warnings, logger };
}

describe('a worker without untilDone that never gets a job', () => {
  it('says after ten seconds that none arrived, naming the jobs schema and runs table it watches', async () => {
    const planned = { connectionString: db.url, jobsSchema: 'jobs' };
    (await planBackfill(planned, { runId: 'nightly' }))._unsafeUnwrap();
    const done = await runBackfillWorker(planned, { untilDone: true });
    expect(done._unsafeUnwrap().ranges).toBeGreaterThan(0);

    const wrong = recording();
    const right = recording();
    const stop = new AbortController();
    const started = Date.now();
    const workers = [
      runBackfillWorker({ connectionString: db.url, jobsSchema: 'jobz', logger: wrong.logger }, { signal: stop.signal }),
      // The run's jobs are done, but they are there: no reason to doubt this worker's flags.
      runBackfillWorker({ ...planned, logger: right.logger }, { signal: stop.signal }),
    ];
    await vi.waitFor(() => expect(wrong.warnings.join('\n')).toMatch(/no job has arrived/), { timeout: 25_000, interval: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    await new Promise((r) => setTimeout(r, 4000));
    stop.abort();
    for (const w of await Promise.all(workers)) expect(w._unsafeUnwrap().ranges).toBe(0);
    expect(wrong.warnings).toEqual([
      expect.stringMatching(
        /^statement backfill: no job has arrived in 1\d s, and no job of any planned run is in jobs schema "jobz" for runs table "vex"\."statement_backfill_runs"; if the runs were planned with --jobs-schema \(jobsSchema\) or --runs-table, give every worker the same flags\. Still waiting\.$/,
      ),
    ]);
    expect(right.warnings).toEqual([]);
  }, 60_000);
});
