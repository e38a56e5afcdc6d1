/**
 * A run's lock session is cut off, and a new session that the operating
 * system happened to give the same process id takes the run id. The first
 * run must still see that its lock is gone: a backend pid alone names a
 * session only while that session lives.
 *
 * The kernel's `ns_last_pid` (writable here) makes the next backend the
 * postmaster forks get the old pid; another process forking in between
 * takes it instead, so the test tries a few times.
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { canChoosePids, NS_LAST_PID } from '../../support/pids.js';
import { backfillHeldAtFirstBatch, seededPair } from './helpers.js';

/** A session of `url` whose backend has pid `pid`, or undefined when other processes kept taking it. */
async function sessionWithPid(url: string, pid: number): Promise<pg.Client | undefined> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    writeFileSync(NS_LAST_PID, String(pid - 1));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const got = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    if (got.rows[0]?.pid === pid) return c;
    await c.end();
  }
  return undefined;
}

const pair = seededPair({ seed: 29, count: 200, brokenRatio: 0.05 });

describe('a run whose lock session is replaced by one with the same backend pid', () => {
  const choosable = canChoosePids();
  it.skipIf(!choosable)(
    `stops before its next commit${choosable ? '' : ' (skipped: needs a writable /proc/sys/kernel/ns_last_pid to reuse a pid)'}`,
    async () => {
      const { run: first, atFirstBatch, goOn } = backfillHeldAtFirstBatch(pair.victim.url, 'pid-reuse');
      await atFirstBatch;

      const admin = new pg.Client({ connectionString: pair.victim.url });
      await admin.connect();
      let impostor: pg.Client | undefined;
      try {
        const held = await admin.query<{ pid: number; classid: string; objid: string }>(
          `SELECT pid, classid::bigint::text AS classid, objid::bigint::text AS objid FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        expect(held.rows).toHaveLength(1);
        const lock = held.rows[0];
        if (lock === undefined) throw new Error('no run lock');
        await admin.query('SELECT pg_terminate_backend($1)', [lock.pid]);
        for (let i = 0; i < 400; i += 1) {
          const left = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [lock.pid]);
          if (left.rows.length === 0) break;
          await new Promise((r) => setTimeout(r, 25));
        }

        impostor = await sessionWithPid(pair.victim.url, lock.pid);
        if (impostor === undefined) throw new Error(`could not get backend pid ${lock.pid} again`);
        // The same two keys, as signed 32-bit integers.
        const took = await impostor.query<{ ok: boolean }>(
          `SELECT pg_try_advisory_lock(
           (CASE WHEN $1::bigint >= 2147483648 THEN $1::bigint - 4294967296 ELSE $1::bigint END)::int,
           (CASE WHEN $2::bigint >= 2147483648 THEN $2::bigint - 4294967296 ELSE $2::bigint END)::int) AS ok`,
          [lock.classid, lock.objid],
        );
        expect(took.rows).toEqual([{ ok: true }]);

        goOn();
        const late = await first;
        expect(late.isErr() && late.error.code).toBe('DB_CONNECTION');
        expect(late.isErr() && late.error.message).toMatch(/lost its run lock/);
      } finally {
        goOn();
        await impostor?.end();
        await admin.end();
      }
    },
  );
});
