/**
 * Each plan store (runs table) has a job queue of its own, even for table
 * names that differ only where the queue name has to change a character:
 * `vex.runs$x` and `vex.runs_x` once shared a queue, and one store's worker
 * dropped the other store's jobs as naming ranges no plan of its had.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { useSeededDatabase } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';

let db: TestDatabase;
useSeededDatabase({ seed: 4, count: 120, brokenRatio: 0.05 }, (created) => (db = created));

/** A store whose runs table is `vex.runs<sep>x`, its other tables named after `tag`. */
function store(sep: string, tag: string) {
  const tables = Object.fromEntries(
    ['ranges', 'workers', 'statements', 'documents', 'checkpoints', 'failures'].map((t) => [t, `vex.${t}_${tag}`]),
  );
  return { connectionString: db.url, tables: { ...tables, runs: `vex.runs${sep}x` } };
}

describe('runs tables named alike', () => {
  it('vex.runs$x and vex.runs_x: each store’s worker completes its own run and leaves the other’s jobs alone', async () => {
    const a = store('_', 'a');
    const b = store('$', 'b');
    const planA = (await planBackfill(a, { runId: 'ta', batchSize: 20, rangeSize: 40 }))._unsafeUnwrap();
    const planB = (await planBackfill(b, { runId: 'tb', batchSize: 20, rangeSize: 40 }))._unsafeUnwrap();
    expect((await runBackfillWorker(a, { untilDone: true }))._unsafeUnwrap()).toMatchObject({ ranges: planA.ranges.length, runs: ['ta'] });
    expect((await backfillReport(b, 'tb'))._unsafeUnwrap().state).toBe('running');
    expect((await runBackfillWorker(b, { untilDone: true }))._unsafeUnwrap()).toMatchObject({ ranges: planB.ranges.length, runs: ['tb'] });
    expect((await backfillReport(a, 'ta'))._unsafeUnwrap().state).toBe('completed');
    expect((await backfillReport(b, 'tb'))._unsafeUnwrap().state).toBe('completed');
  }, 120_000);
});
