/**
 * A worker backfilling many ranges at once: each range holds its run lock
 * on a connection of its own for as long as it runs, so the worker's pool
 * grows with `concurrency`. With a fixed pool, the locks of as many ranges
 * as it had connections took them all, and no range could read a page: the
 * worker waited forever.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { psql, useSeededDatabase } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';

let db: TestDatabase;
useSeededDatabase({ seed: 3, count: 200, brokenRatio: 0.05 }, (created) => (db = created));

describe('statements worker --concurrency', () => {
  it.each([6, 9])(
    '%i ranges at once finish the run',
    async (concurrency) => {
      const runId = `conc${concurrency}`;
      const tables = Object.fromEntries(
        ['statements', 'documents', 'checkpoints', 'failures', 'runs', 'ranges', 'workers'].map((t) => [t, `${runId}.${t}`]),
      );
      const config = { connectionString: db.url, tables };
      const plan = (await planBackfill(config, { runId, batchSize: 10, rangeSize: 20 }))._unsafeUnwrap();
      expect(plan.ranges.length).toBeGreaterThan(concurrency);
      const stop = new AbortController();
      const worker = runBackfillWorker(config, { concurrency, untilDone: true, signal: stop.signal });
      const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 30_000).unref());
      const outcome = await Promise.race([worker.then((r) => (r.isOk() ? `${r.value.ranges} ranges` : r.error.code)), hung]);
      stop.abort();
      await worker;
      expect(outcome).toBe(`${plan.ranges.length} ranges`);
      const report = (await backfillReport(config, runId))._unsafeUnwrap();
      expect(report.state).toBe('completed');
      expect(report.summary.evaluated).toBe(200);
      expect(report.summary.backfilled + report.summary.failures).toBe(200);
      expect(Number(psql(db.url, `SELECT count(*) FROM ${runId}.documents`))).toBe(report.summary.backfilled);
    },
    60_000,
  );
});
