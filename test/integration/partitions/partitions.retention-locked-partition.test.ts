/**
 * Retention while a session holds one expired partition (a long query on that month, an
 * anti-wraparound VACUUM of it): the DROP or DETACH waits for it, and while it waits it must not hold
 * the parent, which every read and write through the parent needs.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import type { TestDatabase } from '../../support/pg.js';
import { artifactBomsManager, holdLock, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

/** The backend waiting for a lock on `table`, once there is one (polled for up to a minute: a busy machine is slow to get there). */
async function waiterOn(table: string): Promise<number | undefined> {
  for (let i = 0; i < 1200; i++) {
    const [row] = await db.query<{ pid: number }>(
      'SELECT pid FROM pg_locks WHERE locktype = $1 AND NOT granted AND relation = $2::regclass LIMIT 1',
      ['relation', table],
    );
    if (row !== undefined) return row.pid;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

/** The locks `pid` holds on `table`. */
const held = async (pid: number, table: string): Promise<string[]> =>
  (
    await db.query<{ mode: string }>('SELECT mode FROM pg_locks WHERE pid = $1 AND relation = $2::regclass AND granted ORDER BY 1', [
      pid,
      table,
    ])
  ).map((r) => r.mode);

describe('retention behind a session holding an expired partition', () => {
  for (const mode of ['drop', 'detach'] as const) {
    it(`${mode}: waits for that partition without holding the parent, then goes on`, async () => {
      await db.query(`
        CREATE TABLE scanner.artifact_boms_2025_01 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00');
        CREATE TABLE scanner.artifact_boms_2026_11 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00');`);
      const reader = await holdLock(db.url, 'scanner.artifact_boms_2025_01', 'ACCESS SHARE');
      let released = false;
      try {
        const run = artifactBomsManager(db, '2026-11-15T08:00:00Z', { lockTimeoutMs: 30_000 }).retention({ keep: 12, dryRun: false, mode });
        const pid = await waiterOn('scanner.artifact_boms_2025_01');
        expect(pid).toBeDefined();
        // While it waits, the parent is free: nothing of it is held by the retention's session.
        expect(await held(pid!, 'scanner.artifact_boms')).toEqual([]);
        await reader.release();
        released = true;
        const r = (await run)._unsafeUnwrap();
        expect(r.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_01', true]]);
      } finally {
        if (!released) await reader.release();
      }
      const [part] = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'scanner.artifact_boms'::regclass AND inhrelid = to_regclass('scanner.artifact_boms_2025_01')",
      );
      expect(part?.n).toBe(0);
    });
  }

  it('a session holding the parent that then needs the partition goes on, and the step says why it stopped', async () => {
    await db.query(`
      CREATE TABLE scanner.artifact_boms_2025_01 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00');
      CREATE TABLE scanner.artifact_boms_2026_11 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00');`);
    const app = new pg.Client({ connectionString: db.url, options: '-c deadlock_timeout=60s' });
    await app.connect();
    // The run's session checks for deadlocks first, so it is the one PostgreSQL ends. A session checks once,
    // deadlock_timeout after it starts waiting: long enough for the application to be waiting too by then, on a busy machine.
    const pool = new pg.Pool({ connectionString: db.url, options: '-c deadlock_timeout=5s' });
    try {
      await app.query('BEGIN');
      await app.query(`INSERT INTO scanner.artifact_boms VALUES ('app', 'x', NULL, '2026-11-20 00:00:00+00')`);
      const run = artifactBomsManager(db, '2026-11-15T08:00:00Z', { pg: pool, lockTimeoutMs: 30_000 }).retention({
        keep: 12,
        dryRun: false,
      });
      expect(await waiterOn('scanner.artifact_boms')).toBeDefined();
      // The application reads the whole table: it needs the partition the run holds, while the run waits for it.
      const { rows } = await app.query<{ n: number }>('SELECT count(*)::int AS n FROM scanner.artifact_boms');
      expect(rows).toEqual([{ n: 1 }]);
      await app.query('COMMIT');
      const e = (await run)._unsafeUnwrapErr();
      expect([e.code, e.dbCode, e.context.partition]).toEqual(['DB_ERROR', '40P01', 'artifact_boms_2025_01']);
      expect(e.message).toContain('PostgreSQL ended this step so that session could go on');
      expect(e.message).toContain('the next retention run drops it');
      const again = (await artifactBomsManager(db, '2026-11-15T08:00:00Z').retention({ keep: 12, dryRun: false }))._unsafeUnwrap();
      expect(again.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_01', true]]);
    } finally {
      await app.end();
      await pool.end();
    }
  });
});
