/**
 * Two imports at once into tables of one schema: each drops only its own
 * swapped-out (`_bk_old_`) tables, or those of an import that died. A swap
 * import drops its old tables after its COMMIT; another import's cleanup
 * used to drop them in that window, so the first import warned that it
 * "could not drop" its table (it was gone) and left it out of `dropped`,
 * while the second reported another import's table as its own.
 *
 * And an import that fails after its loaders committed its fresh tables
 * drops them after its ROLLBACK; another import's cleanup used to drop (and
 * report) them in that window.
 *
 * And a session holding an old table when its import, committed already,
 * comes to drop it: the DROP ran without a lock timeout (the import's ended
 * with its transaction), so the import hung until that session ended.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/_internals/logger.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase, waitForLockWaiter, withApplicationName } from '../../support/pg.js';
import { needTools } from '../../support/tmp.js';
import { handTarball, scratch, smallDataset, TABLES } from './fixtures.js';

let db: TestDatabase;
let dir: string;
const SCHEMA = 'leftover_race';
const GATE = 7_340_212;
const tools = needTools('tar', 'zstd');

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch('bk-leftover-race-');
});
afterAll(async () => {
  await db.query('DROP EVENT TRIGGER IF EXISTS bk_test_gate').catch(() => undefined);
  await db.drop();
});

const dataset = (name: string, seed: number): Promise<string> => smallDataset(dir, name, seed, 30, 40);

/** Logger that keeps warnings, each with its fields as JSON. */
function recording(): { warnings: string[]; logger: Logger } {
  const warnings: string[] = [];
  const ignore = (): void => undefined;
  return { warnings, logger: { info: ignore, error: ignore, warn: (m, fields) => void warnings.push(`${m} ${JSON.stringify(fields)}`) } };
}

/** From now on, the first DROP of a table named like `like` is held at its start (before it locks the table) until the test opens the gate. */
async function armDropGate(like = '%_bk_old_%'): Promise<void> {
  await db.query(`
    CREATE TABLE IF NOT EXISTS public.gate_armed (x int);
    INSERT INTO public.gate_armed VALUES (1);
    CREATE OR REPLACE FUNCTION public.gate() RETURNS event_trigger LANGUAGE plpgsql AS $$
      DECLARE n int;
      BEGIN
        IF pg_catalog.current_query() LIKE '${like}' THEN
          DELETE FROM public.gate_armed WHERE ctid IN (SELECT ctid FROM public.gate_armed FOR UPDATE SKIP LOCKED);
          GET DIAGNOSTICS n = ROW_COUNT;
          IF n > 0 THEN PERFORM pg_catalog.pg_advisory_xact_lock_shared(${GATE}); END IF;
        END IF;
      END $$;`);
  await db.query(`CREATE EVENT TRIGGER bk_test_gate ON ddl_command_start WHEN TAG IN ('DROP TABLE') EXECUTE FUNCTION public.gate()`);
}

describe('swap imports into one schema at once', () => {
  it("each drops its own old tables, and not another running import's", async () => {
    const firstLog = recording();
    const secondLog = recording();
    // Its DROP waits at the gate while the second import runs, under its lock timeout.
    const first = new StagingImporter({ pg: db.pool, schema: SCHEMA, tables: TABLES, logger: firstLog.logger, lockTimeoutMs: 120_000 });
    const second = new StagingImporter({
      pg: db.pool,
      schema: SCHEMA,
      tables: { 'linksets.ndjson': 'other_raw' },
      logger: secondLog.logger,
    });
    (await first.import(await dataset('a0.tar.zst', 1), { strategy: 'swap' }))._unsafeUnwrap();
    (await second.import(await dataset('b0.tar.zst', 2), { strategy: 'swap' }))._unsafeUnwrap();
    await armDropGate();
    const gate = await db.pool.connect();
    try {
      await gate.query('SELECT pg_catalog.pg_advisory_lock($1)', [GATE]);
      firstLog.warnings.length = 0;
      secondLog.warnings.length = 0;
      const importing = first.import(await dataset('a1.tar.zst', 5), { strategy: 'swap', logger: firstLog.logger });
      // The first import has committed its swap and waits at the DROP of its first old table.
      await waitForLockWaiter(db, 'advisory');
      const other = await second.import(await dataset('b1.tar.zst', 6), { strategy: 'swap', logger: secondLog.logger });
      await gate.query('SELECT pg_catalog.pg_advisory_unlock($1)', [GATE]);
      const done = (await importing)._unsafeUnwrap();
      const otherReport = other._unsafeUnwrap();
      // Each reports its own old tables, and only those.
      expect(done.dropped.map((t) => t.replace(/_bk_old_[0-9a-f]{8}_/, '_bk_old_*_')).sort()).toEqual([
        `${SCHEMA}._bk_old_*_0`,
        `${SCHEMA}._bk_old_*_1`,
      ]);
      expect(otherReport.dropped.map((t) => t.replace(/_bk_old_[0-9a-f]{8}_/, '_bk_old_*_'))).toEqual([`${SCHEMA}._bk_old_*_0`]);
      expect(new Set([...done.dropped, ...otherReport.dropped]).size).toBe(3);
      expect(firstLog.warnings).toEqual([]);
      expect(secondLog.warnings).toEqual([]);
      const [left] = await db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname LIKE '\\_bk\\_%'`,
        [SCHEMA],
      );
      expect(left!.n).toBe('0');
    } finally {
      await db.query('DROP EVENT TRIGGER IF EXISTS bk_test_gate').catch(() => undefined);
      gate.release();
    }
  }, 300_000);

  it('a committed import waits at most lockTimeoutMs to drop an old table another session holds, and the next import drops it', async () => {
    const schema = 'held_old';
    const log = recording();
    // Long enough for the test to open the gate (the DROP's wait there counts too), short enough to wait out once.
    const importer = new StagingImporter({ pg: db.pool, schema, tables: TABLES, logger: log.logger, lockTimeoutMs: 15_000 });
    (await importer.import(await dataset('h0.tar.zst', 7), { strategy: 'swap' }))._unsafeUnwrap();
    await armDropGate();
    const gate = await db.pool.connect();
    const reader = new pg.Client({ connectionString: withApplicationName(db.url, 'old_table_reader') });
    await reader.connect();
    try {
      await gate.query('SELECT pg_catalog.pg_advisory_lock($1)', [GATE]);
      const importing = importer.import(await dataset('h1.tar.zst', 8), { strategy: 'swap' });
      await waitForLockWaiter(db, 'advisory');
      // The import has committed; a session takes its first old table before the DROP does.
      const [old] = await db.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname ~ '^_bk_old_[0-9a-f]{8}_0$'`,
        [schema],
      );
      await reader.query(`BEGIN; LOCK TABLE ${schema}.${old!.name} IN ACCESS SHARE MODE`);
      await gate.query('SELECT pg_catalog.pg_advisory_unlock($1)', [GATE]);
      const settled = await Promise.race([importing, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 60_000).unref())]);
      expect(settled).not.toBe('hung');
      if (settled === 'hung') return;
      const report = settled._unsafeUnwrap();
      expect(report.committed).toBe(true);
      expect(report.dropped.map((t) => t.replace(/_bk_old_[0-9a-f]{8}_/, '_bk_old_*_'))).toEqual([`${schema}._bk_old_*_1`]);
      expect(log.warnings).toHaveLength(1);
      expect(log.warnings[0]).toContain('could not drop a swapped-out staging table; the next import drops it');
      expect(log.warnings[0]).toContain('old_table_reader');
      await reader.query('COMMIT');
      const next = (await importer.import(await dataset('h2.tar.zst', 9), { strategy: 'swap' }))._unsafeUnwrap();
      expect(next.dropped).toContain(`${schema}.${old!.name}`);
    } finally {
      await db.query('DROP EVENT TRIGGER IF EXISTS bk_test_gate').catch(() => undefined);
      gate.release();
      await reader.end();
    }
  }, 300_000);

  it.skipIf(tools.missing)(
    tools.title('leaves the fresh tables of an import that failed after its loads to that import, which drops them'),
    async () => {
      const schema = 'aborted_fresh';
      const log = recording();
      const failing = new StagingImporter({ pg: db.pool, schema, tables: TABLES, lockTimeoutMs: 120_000 });
      const other = new StagingImporter({ pg: db.pool, schema, tables: { 'linksets.ndjson': 'other_raw' }, logger: log.logger });
      (await failing.import(await dataset('f0.tar.zst', 11), { strategy: 'swap' }))._unsafeUnwrap();
      (await other.import(await dataset('o0.tar.zst', 12), { strategy: 'swap' }))._unsafeUnwrap();
      // Its loaders commit both fresh tables; then the counts do not match the manifest, and the import aborts.
      const lying = handTarball(dir, 'lying.tar.zst', [
        { name: 'linksets.ndjson', text: '{"_id":"a"}\n{"_id":"b"}\n', records: 3 },
        { name: 'advisory_chunks.ndjson', text: '{"_id":"c"}\n' },
      ]);
      await armDropGate('%_bk_stage_%');
      const gate = await db.pool.connect();
      try {
        await gate.query('SELECT pg_catalog.pg_advisory_lock($1)', [GATE]);
        const importing = failing.import(lying, { strategy: 'swap' });
        // The import has rolled back and waits at the DROP of its first fresh table.
        await waitForLockWaiter(db, 'advisory');
        const otherReport = (await other.import(await dataset('o1.tar.zst', 13), { strategy: 'swap' }))._unsafeUnwrap();
        await gate.query('SELECT pg_catalog.pg_advisory_unlock($1)', [GATE]);
        expect((await importing)._unsafeUnwrapErr().code).toBe('COUNT_MISMATCH');
        // The other import dropped only its own old table, not the failed import's fresh tables.
        expect(otherReport.dropped.map((t) => t.replace(/_bk_old_[0-9a-f]{8}_/, '_bk_old_*_'))).toEqual([`${schema}._bk_old_*_0`]);
        const [left] = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname LIKE '\\_bk\\_%'`,
          [schema],
        );
        expect(left!.n).toBe(0);
      } finally {
        await db.query('DROP EVENT TRIGGER IF EXISTS bk_test_gate').catch(() => undefined);
        gate.release();
      }
    },
    300_000,
  );
});
