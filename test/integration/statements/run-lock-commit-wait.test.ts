/**
 * A new holder of a run waits for the run's commit lock (held by a batch of
 * a previous holder whose run lock was lost) before it reads the
 * checkpoint. If that batch does not end within the wait (60 s; shorter
 * here), the new holder gives up with LOCKED, naming the session that
 * holds the commit lock, and lets go of the run lock it had taken.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PgHandle } from '../../../src/_internals/pg.js';
import { lockPgRun } from '../../../src/statements/pg-run-lock.js';
import { lockRunCommit } from '../../../src/statements/sql.js';
import { createTestDatabase, withApplicationName, type TestDatabase } from '../../support/pg.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe("a run whose commit lock a previous holder's batch keeps", () => {
  it('gives up with LOCKED after the commit wait, naming the holder, and lets go of the run lock', async () => {
    const namespace = '"vex"."statement_backfill_checkpoints"';
    const batch = new pg.Client({ connectionString: withApplicationName(db.url, 'bk_stuck_batch') });
    await batch.connect();
    const handle = new PgHandle(db.url);
    try {
      // A batch of the previous holder: its transaction holds the commit lock and does not end.
      await batch.query('BEGIN');
      const lock = lockRunCommit(namespace, 'stuck');
      await batch.query(lock.text, [...lock.values]);

      const started = Date.now();
      const refused = await lockPgRun(handle, namespace, 'stuck', 1000);
      const waited = Date.now() - started;
      expect(refused.isErr() && refused.error.code).toBe('LOCKED');
      expect(refused.isErr() && refused.error.message).toMatch(
        /^run "stuck" was taken over from a process whose run lock was lost, and that process is still committing a batch of the run after 1 s \(backend pid \d+, application_name "bk_stuck_batch", /,
      );
      expect(waited).toBeGreaterThanOrEqual(900);
      expect(waited).toBeLessThan(10_000);

      // It let go of the run lock: once the batch ends, the run can be taken.
      await batch.query('COMMIT');
      const taken = await lockPgRun(handle, namespace, 'stuck', 1000);
      expect(taken.isOk()).toBe(true);
      if (taken.isOk()) await taken.value.release();
    } finally {
      await Promise.all([batch.end(), handle.close()]);
    }
  });
});
