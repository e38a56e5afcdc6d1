/**
 * A worker whose logger throws (a closed or full log sink) on the warning
 * that a range attempt failed. The throw escaped the worker's job loop,
 * whose promise nobody listened to until the worker stopped: an unhandled
 * rejection, which ends a Node process that has no handler for one, while
 * the worker waited on without that loop. The line is now dropped and the
 * loop goes on until the worker is stopped.
 */
import { beforeAll, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { collectUnobserved } from '../../support/unobserved.js';
import { useSeededDatabase } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';

const unobserved = collectUnobserved();
let db: TestDatabase;
useSeededDatabase({ seed: 31, count: 20, brokenRatio: 0 }, (created) => (db = created));
beforeAll(async () => {
  (await planBackfill({ connectionString: db.url }, { runId: 'r', batchSize: 10, rangeSize: 20 }))._unsafeUnwrap();
  await db.query('DROP TABLE vex.raw_documents'); // every attempt of the range now fails
});

it('a logger that throws on a range attempt’s warning stops nothing, and leaves no rejection unhandled', async () => {
  // Stopped a turn of the event loop after the first warning (before, its loop was gone by then).
  const stop = new AbortController();
  let warned = 0;
  const logger = {
    info() {},
    error() {},
    warn(message: string) {
      if (!message.includes('range attempt failed')) return;
      warned += 1;
      setImmediate(() => stop.abort());
      throw new Error('log sink closed');
    },
  };
  const worked = await runBackfillWorker({ connectionString: db.url, logger }, { untilDone: true, runId: 'r', signal: stop.signal });
  expect(warned).toBeGreaterThan(0);
  expect(worked.isOk()).toBe(true); // a worker stopped by its signal returns what it did
  expect(unobserved).toEqual({ rejections: [], exceptions: [] });
}, 60_000);
