/**
 * `statements backfill` resuming a killed run shows this process's rate
 * and ETA: the documents the killed process evaluated are not counted as
 * done in this process's first second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { backfillSingleProcess, seedDocuments } from '../statements/helpers.js';
import { cli } from './cli-harness.js';

const RUN = 'resumed-progress';
/** How long the resumed process's first commit is held up, so its rate has a known ceiling. */
const HOLD_MS = 2000;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 7, count: 2000, brokenRatio: 0 });
});
afterAll(async () => {
  await db?.drop();
});

describe('statements backfill resumed after a stop', () => {
  it('reports the rate of the documents it evaluates, not of the whole run so far', async () => {
    // The first process evaluates most of the run, then stops (as a killed one would, between batches).
    const stop = new AbortController();
    const first = await backfillSingleProcess(db.url, {
      runId: RUN,
      batchSize: 100,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.evaluated >= 1800) stop.abort();
      },
    });
    expect(first.isErr() && first.error.code).toBe('ABORTED');
    const before = first.isErr() ? (first.error.partial?.evaluated ?? 0) : 0;
    expect(before).toBeGreaterThanOrEqual(1800);
    expect(before).toBeLessThan(2000);

    // Hold the run's checkpoint row, so the resumed process's first commit waits at least HOLD_MS.
    const holder = new pg.Client({ connectionString: db.url });
    const watcher = new pg.Client({ connectionString: db.url });
    await Promise.all([holder.connect(), watcher.connect()]);
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM vex.statement_backfill_checkpoints WHERE run_id = $1 FOR UPDATE', [RUN]);
      const resumed = cli(['statements', 'backfill', '--run-id', RUN, '--batch-size', '50'], {
        env: { PGURI: db.url, BACKFILL_KIT_PROGRESS_INTERVAL: '0.001' },
      });
      // Asked on its own connection: inside the holder's transaction pg_stat_activity would not change.
      for (let waited = 0; ; waited += 50) {
        const blocked = await watcher.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' `,
        );
        if (blocked.rowCount) break;
        if (waited > 60_000) throw new Error('the resumed backfill never reached its first commit');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
      await holder.query('COMMIT');
      const r = await resumed;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('Backfill completed: evaluated 2000');
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('backfill: '));
      expect(lines.length).toBeGreaterThan(0);
      // At most 2000 - before documents in at least HOLD_MS: a few hundred a second at the most, never thousands.
      const ceiling = Math.ceil((2000 - before) / (HOLD_MS / 1000));
      for (const line of lines) {
        const rate = Number(/, ([\d,]+) docs\/s/.exec(line)?.[1]?.replaceAll(',', ''));
        expect(rate, line).toBeLessThanOrEqual(ceiling);
      }
    } finally {
      await Promise.all([holder.end(), watcher.end()]);
    }
  }, 120_000);
});
