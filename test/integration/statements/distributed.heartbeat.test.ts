/**
 * pg-boss expires a claimed job by the heartbeat the job was enqueued with.
 * A worker started with a longer --heartbeat-seconds than the queue's must
 * still touch its job often enough, or the job is handed out again mid-range.
 */
import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase } from '../../support/pg.js';
import { psql } from './helpers.js';
import { RangeJobQueue } from '../../../src/statements/job-queue.js';

describe('job heartbeats', () => {
  it("a worker with a longer heartbeat than the job's keeps the job alive; the planner's heartbeat is the job's", async () => {
    const db = await createTestDatabase();
    const opened: RangeJobQueue[] = [];
    const open = async (heartbeatSeconds: number): Promise<RangeJobQueue> => {
      const q = (await RangeJobQueue.open({ connectionString: db.url, queue: 'vex.runs', heartbeatSeconds }))._unsafeUnwrap();
      opened.push(q);
      return q;
    };
    try {
      // The queue is created with 10 s; a planner given 30 s enqueues its jobs with 30 s.
      await open(10);
      (await (await open(30)).enqueue([{ runId: 'slow', n: 2 }]))._unsafeUnwrap();
      expect(psql(db.url, "SELECT heartbeat_seconds FROM pgboss.job WHERE data->>'runId' = 'slow'")).toBe('30');
      (await (await open(10)).enqueue([{ runId: 'h', n: 1 }]))._unsafeUnwrap();
      const worker = await open(60);
      // Take the 10 s job (the 30 s one may come first: settle it).
      let held = (await worker.take())._unsafeUnwrap();
      while (held !== null && held.job.runId !== 'h') {
        (await held.complete())._unsafeUnwrap();
        held = (await worker.take())._unsafeUnwrap();
      }
      expect(held?.job).toEqual({ runId: 'h', n: 1 });
      // Past the job's 10 s (pg-boss's monitor runs every 2 s here): still this worker's, first attempt.
      await sleep(15_000);
      expect(psql(db.url, "SELECT state || ' ' || retry_count FROM pgboss.job WHERE data->>'runId' = 'h'")).toBe('active 0');
      (await held!.complete())._unsafeUnwrap();
    } finally {
      for (const q of opened) await q.close();
      await db.drop();
    }
  }, 60_000);
});
