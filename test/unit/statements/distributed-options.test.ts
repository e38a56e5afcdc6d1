import { describe, expect, it } from 'vitest';
import { planAndWork } from '../../../src/statements/distributed.js';
import { planBackfill, runBackfillWorker } from '../../../src/statements/index.js';

/** Nothing listens here: a call that connected before checking its options would fail with DB_CONNECTION instead. */
const nowhere = { connectionString: 'postgres://postgres@127.0.0.1:1/none' };

describe('distributed backfill options are checked before any connection', () => {
  it.each([
    [{ runId: '' }, /runId/],
    [{ runId: 'x'.repeat(181) }, /runId/],
    [{ runId: 'r', batchSize: 0 }, /batchSize/],
    [{ runId: 'r', rangeSize: 1.5 }, /rangeSize/],
    [{ runId: 'r', maxDocuments: -1 }, /maxDocuments/],
    [{ runId: 'r', retrievedSince: new Date('nope') }, /retrievedSince/],
  ])('planBackfill refuses %o', async (options, message) => {
    const r = await planBackfill(nowhere, options);
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toMatch(message);
  });

  it('runBackfillWorker and planAndWork refuse a concurrency outside 1–64', async () => {
    for (const concurrency of [0, 65, 2.5]) {
      const worker = await runBackfillWorker(nowhere, { concurrency });
      expect(worker.isErr() && worker.error.code).toBe('INVALID_ARGUMENT');
      const both = await planAndWork(nowhere, { runId: 'r' }, { concurrency }, () => undefined);
      expect(both.isErr() && both.error.message).toMatch(/concurrency/);
    }
    const badPlan = await planAndWork(nowhere, { runId: '' }, {}, () => undefined);
    expect(badPlan.isErr() && badPlan.error.message).toMatch(/runId/);
  });
});
