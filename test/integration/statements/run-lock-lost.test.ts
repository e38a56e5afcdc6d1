/**
 * A run whose lock session is cut off (an administrator's
 * pg_terminate_backend, `idle_session_timeout`, a proxy dropping an idle
 * connection) no longer holds its run id: a second process may take it.
 * The first must then commit nothing more, or the two would overwrite each
 * other's checkpoint and the run would report documents as skipped that it
 * backfilled.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { backfillHeldAtFirstBatch, backfillSingleProcess, seededPair } from './helpers.js';

const pair = seededPair({ seed: 23, count: 400, brokenRatio: 0.05 });

describe('a run that lost its run lock', () => {
  it('stops before its next commit, so the run ends as an uninterrupted one', async () => {
    const reference = (await backfillSingleProcess(pair.reference.url, { runId: 'lock-lost' }))._unsafeUnwrap();

    const { run: first, atFirstBatch, goOn } = backfillHeldAtFirstBatch(pair.victim.url, 'lock-lost');
    await atFirstBatch;

    const admin = new pg.Client({ connectionString: pair.victim.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(killed.rows).toEqual([{ ok: true }]);
    } finally {
      await admin.end();
    }

    // The id is free again: a second process takes it and completes the run.
    const second = await backfillSingleProcess(pair.victim.url, { runId: 'lock-lost' });
    expect(second._unsafeUnwrap().text).toBe(reference.text);

    goOn();
    const late = await first;
    expect(late.isErr() && late.error.code).toBe('DB_CONNECTION');
    expect(late.isErr() && late.error.message).toMatch(/lost its run lock/);

    const after = (await backfillSingleProcess(pair.victim.url, { runId: 'lock-lost' }))._unsafeUnwrap();
    expect(after.text).toBe(reference.text);
    expect(after.reportSha256).toBe(reference.reportSha256);
  });
});
