/**
 * Ctrl-C while a run is planned: the planner printed "stopping" and then
 * stored the plan and enqueued its jobs anyway (exit 0), since planning
 * took no signal; cutting a large keyspace takes a while. A stop asked for
 * before the plan is stored now ends planning with ABORTED and nothing
 * planned; once it is being stored, the plan and its jobs are finished.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { psql, seedDocuments } from './helpers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 9, count: 200, brokenRatio: 0 });
});
afterAll(async () => {
  await db?.drop();
});

/** A signal that reads as not aborted the first `reads` times it is asked, then as aborted (a stop that comes while the keyspace is cut). */
function abortedAfter(reads: number): AbortSignal {
  let asked = 0;
  return {
    get aborted() {
      asked += 1;
      return asked > reads;
    },
  } as AbortSignal;
}

describe('planBackfill and a stop before the plan is stored', () => {
  it.for([
    { when: 'before the keyspace is cut', runId: 'stopped-early', signal: () => AbortSignal.abort() },
    { when: 'while the keyspace is cut', runId: 'stopped-cutting', signal: () => abortedAfter(1) },
  ])('$when: ABORTED, and nothing is planned or queued', async ({ runId, signal }) => {
    const planned = await planBackfill({ connectionString: db.url }, { runId, rangeSize: 50, signal: signal() });
    expect(planned.isErr() && planned.error.code).toBe('ABORTED');
    expect(planned.isErr() && planned.error.message).toBe(
      `planning run ${runId} was interrupted before its plan was stored: nothing was planned.`,
    );
    expect(psql(db.url, `SELECT count(*) FROM vex.statement_backfill_runs WHERE run_id = '${runId}'`)).toBe('0');
    expect(psql(db.url, `SELECT count(*) FROM pgboss.job WHERE data->>'runId' = '${runId}'`)).toBe('0');
    // Planned again without the stop, it is planned in full.
    const again = await planBackfill({ connectionString: db.url }, { runId, rangeSize: 50 });
    expect(again._unsafeUnwrap().ranges.length).toBeGreaterThan(3);
  });
});
