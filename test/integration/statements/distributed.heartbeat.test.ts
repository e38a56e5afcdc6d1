/**
 * pg-boss expires a claimed job by the heartbeat the job was enqueued with.
 * A worker started with a longer --heartbeat-seconds than the queue's must
 * still touch its job often enough, or the job is handed out again mid-range.
 * And a job that is touched is never failed for how long it has run: pg-boss
 * failed a job active for more than 24 hours ("job timed out") even while
 * its worker sent heartbeats, so a long range was retried under the live
 * worker's run lock (LOCKED on each retry) and its run could end `failed`.
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

  it("a job active for more than 24 hours whose worker sends heartbeats stays that worker's; jobs enqueued before get the same", async () => {
    const db = await createTestDatabase();
    const opened: RangeJobQueue[] = [];
    const open = async (): Promise<RangeJobQueue> => {
      const q = (await RangeJobQueue.open({ connectionString: db.url, queue: 'vex.runs' }))._unsafeUnwrap();
      opened.push(q);
      return q;
    };
    try {
      const planner = await open();
      (await planner.enqueue([{ runId: 'long', n: 1 }]))._unsafeUnwrap();
      // As an earlier version left its queue and jobs: pg-boss's 24 hours at most.
      psql(db.url, "UPDATE pgboss.queue SET expire_seconds = 86400 WHERE name LIKE 'backfill-kit/%'");
      psql(db.url, "UPDATE pgboss.job SET expire_seconds = 86400 WHERE data->>'runId' = 'long'");
      const worker = await open();
      const held = (await worker.take())._unsafeUnwrap();
      expect(held?.job).toEqual({ runId: 'long', n: 1 });
      // The range has been running for 25 hours (pg-boss's supervisor runs every 2 s here).
      psql(db.url, "UPDATE pgboss.job SET started_on = started_on - interval '25 hours' WHERE data->>'runId' = 'long'");
      await sleep(6_000);
      expect(psql(db.url, "SELECT state || ' ' || retry_count FROM pgboss.job WHERE data->>'runId' = 'long'")).toBe('active 0');
      (await held!.complete())._unsafeUnwrap();
      expect(psql(db.url, "SELECT state FROM pgboss.job WHERE data->>'runId' = 'long'")).toBe('completed');
    } finally {
      for (const q of opened) await q.close();
      await db.drop();
    }
  }, 60_000);
});
