import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PartitionManager, type MaintainOptions } from '../../../src/partitions/index.js';
import type { PgClientLike } from '../../../src/_internals/pg.js';
import { createArtifactBomsTable, holdLock } from './fixtures.js';

let db: TestDatabase;
const NOW = new Date('2026-11-15T00:00:00Z');
beforeAll(async () => {
  db = await createTestDatabase();
  await createArtifactBomsTable(db);
  (
    await new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW }).ensure({ behind: 3 })
  )._unsafeUnwrap();
  await db.query(`CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
    CREATE TABLE scanner.artifact_boms_2026_13 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2030-01-01 00:00:00+00') TO ('2030-02-01 00:00:00+00');
    INSERT INTO scanner.artifact_boms SELECT 'b' || g, md5(g::text), null, timestamptz '2026-11-01 00:00:00+00' + (g || ' minutes')::interval FROM generate_series(1, 5000) g;`);
});
afterAll(async () => {
  await db.drop();
});

/** The INVALID indexes of a partition of scanner, by name. */
async function invalidIndexesOf(partition: string): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    'SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass AND NOT i.indisvalid ORDER BY 1',
    [`scanner.${partition}`],
  );
  return rows.map((r) => r.name);
}

/** A pg.Client wrapper that counts round trips. */
function counting(client: pg.Client): { source: PgClientLike; count: () => number } {
  let n = 0;
  return {
    source: {
      query: (...args: unknown[]) => {
        n++;
        return (client.query as (...a: unknown[]) => unknown)(...args);
      },
    },
    count: () => n,
  };
}

describe('list', () => {
  it('answers in one query, with UTC bounds whatever the session TimeZone and DateStyle', async () => {
    const client = new pg.Client({ connectionString: db.url, options: '-c TimeZone=Asia/Kolkata -c DateStyle=SQL,DMY' });
    await client.connect();
    try {
      const c = counting(client);
      const list = (
        await new PartitionManager({ pg: c.source, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW }).list()
      )._unsafeUnwrap();
      expect(c.count()).toBe(1);
      expect(list.map((p) => [p.name, p.from?.toISOString() ?? null, p.managed])).toEqual([
        ['artifact_boms_2026_08', '2026-08-01T00:00:00.000Z', true],
        ['artifact_boms_2026_09', '2026-09-01T00:00:00.000Z', true],
        ['artifact_boms_2026_10', '2026-10-01T00:00:00.000Z', true],
        ['artifact_boms_2026_11', '2026-11-01T00:00:00.000Z', true],
        ['artifact_boms_2026_12', '2026-12-01T00:00:00.000Z', true],
        ['artifact_boms_2026_13', '2030-01-01T00:00:00.000Z', false],
        ['artifact_boms_default', null, false],
      ]);
      const nov = list.find((p) => p.name === 'artifact_boms_2026_11')!;
      expect(nov.to?.toISOString()).toBe('2026-12-01T00:00:00.000Z');
      expect(nov.sizeBytes).toBeGreaterThan(0);
      expect(list.find((p) => p.isDefault)?.reason).toMatch(/default/);
      expect(list.find((p) => p.name.endsWith('_13'))?.reason).toMatch(/name/);
    } finally {
      await client.end();
    }
  });

  it('times out instead of hanging while DDL holds a partition', async () => {
    const lock = await holdLock(db.url, 'scanner.artifact_boms_2026_09', 'ACCESS EXCLUSIVE');
    try {
      // The lock is held until after the assertion: a list that waited for it would hit the test's timeout.
      const r = await new PartitionManager({
        pg: db.pool,
        table: 'scanner.artifact_boms',
        column: 'inserted_at',
        lockTimeoutMs: 150,
      }).list();
      expect(r._unsafeUnwrapErr().code).toBe('LOCK_TIMEOUT');
    } finally {
      await lock.release();
    }
  });
});

describe('maintain', () => {
  it('vacuums, analyses and reindexes one partition and no other', async () => {
    const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW });
    const r = (await m.maintain('artifact_boms_2026_11', { vacuum: true, analyze: true, reindex: true }))._unsafeUnwrap();
    expect(r.steps.map((s) => s.sql)).toEqual([
      'VACUUM (ANALYZE) "scanner"."artifact_boms_2026_11"',
      'REINDEX TABLE CONCURRENTLY "scanner"."artifact_boms_2026_11"',
    ]);
    await db.query('SELECT pg_stat_clear_snapshot()');
    const stats = await db.query<{ relname: string; vacuumed: boolean; analyzed: boolean }>(
      "SELECT relname, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE schemaname = 'scanner' AND relname LIKE 'artifact_boms_2026_%' ORDER BY relname",
    );
    expect(stats.filter((s) => s.vacuumed || s.analyzed).map((s) => s.relname)).toEqual(['artifact_boms_2026_11']);
    const nov = (await m.list())._unsafeUnwrap().find((p) => p.name === 'artifact_boms_2026_11');
    expect(nov?.estimatedRows).toBe(5000);
  });

  it('refuses the parent, unknown tables and an empty step list', async () => {
    const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at' });
    expect((await m.maintain('artifact_boms'))._unsafeUnwrapErr().code).toBe('TABLE_NOT_FOUND');
    expect((await m.maintain('artifact_boms_1999_01'))._unsafeUnwrapErr().code).toBe('TABLE_NOT_FOUND');
    expect((await m.maintain('artifact_boms_2026_11', { vacuum: false, analyze: false }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });

  it.for<[string, { partition: string; mode: string; own: string; options: MaintainOptions }]>([
    [
      // An open writer: reads go on, but a plain REINDEX needs a SHARE lock.
      'an open writer holds the partition a plain REINDEX needs',
      {
        partition: 'artifact_boms_2026_10',
        mode: 'ROW EXCLUSIVE',
        own: '42s',
        options: { vacuum: false, analyze: false, reindex: true, concurrently: false },
      },
    ],
    [
      // Under the connection's own lock_timeout of 0 (the default), sizing the partition would wait as long as the holder.
      'a VACUUM FULL or CLUSTER holds the partition (sizing it waits too)',
      { partition: 'artifact_boms_2026_09', mode: 'ACCESS EXCLUSIVE', own: '0', options: {} },
    ],
  ])('times out instead of hanging while %s, and restores the session lock_timeout', async ([, { partition, mode, own, options }]) => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`SET lock_timeout = '${own}'`);
    const lock = await holdLock(db.url, `scanner.${partition}`, mode);
    try {
      const m = new PartitionManager({ pg: client, table: 'scanner.artifact_boms', column: 'inserted_at', lockTimeoutMs: 150 });
      // The lock is held until after the assertions. A maintain that waited for it would wait for ever: 30 s
      // (it takes a fraction of one) tells the two apart and leaves time to release the lock within the test's timeout.
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        m.maintain(partition, options),
        new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 30_000))),
      ]);
      clearTimeout(timer);
      expect(r).not.toBe('hung');
      if (r === 'hung') return;
      const e = r._unsafeUnwrapErr();
      expect(e.code).toBe('LOCK_TIMEOUT');
      expect(e.message).toContain('maintain');
      expect(e.message).toContain(partition);
      expect((await client.query('SHOW lock_timeout')).rows[0]).toEqual({ lock_timeout: own });
    } finally {
      await lock.release();
      await client.end();
    }
  });

  it("a step that outlasts the role's statement_timeout is a database error saying so, not an interrupted run", async () => {
    // The server cancels it (SQLSTATE 57014) as it would a role's ALTER ROLE … SET statement_timeout.
    const pool = new pg.Pool({ connectionString: db.url, options: '-c statement_timeout=1' });
    try {
      const m = new PartitionManager({ pg: pool, table: 'scanner.artifact_boms', column: 'inserted_at' });
      const e = (await m.maintain('artifact_boms_2026_11', { vacuum: true, analyze: true, reindex: true }))._unsafeUnwrapErr();
      // Not ABORTED, which says the caller's AbortSignal fired (the command line exits 130 for it, as for Ctrl-C).
      expect([e.code, e.dbCode]).toEqual(['DB_ERROR', '57014']);
      expect(e.message).toContain('statement_timeout');
    } finally {
      await pool.end();
    }
  });

  it('drops the INVALID indexes a timed-out REINDEX CONCURRENTLY leaves, naming the partition', async () => {
    const invalid = (): Promise<string[]> => invalidIndexesOf('artifact_boms_2026_09');
    // Someone's own failed CREATE INDEX CONCURRENTLY, named like a leftover but after no index of the table: never ours to drop.
    await db.query(
      "INSERT INTO scanner.artifact_boms VALUES ('d1', 'dup', null, '2026-09-02 00:00:00+00'), ('d2', 'dup', null, '2026-09-03 00:00:00+00')",
    );
    await db
      .query('CREATE UNIQUE INDEX CONCURRENTLY mine_ccnew ON scanner.artifact_boms_2026_09 (canonical_bom_sha256)')
      .catch(() => undefined);
    expect(await invalid()).toEqual(['mine_ccnew']);
    const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', lockTimeoutMs: 200 });
    // An open writer: the rebuild builds its new indexes, then times out waiting for it.
    const lock = await holdLock(db.url, 'scanner.artifact_boms_2026_09', 'ROW EXCLUSIVE');
    let leftovers: string[];
    try {
      const r = await m.maintain('artifact_boms_2026_09', { vacuum: false, analyze: false, reindex: true });
      const e = r._unsafeUnwrapErr();
      expect(e.code).toBe('LOCK_TIMEOUT');
      expect(e.message).toContain('maintain scanner.artifact_boms_2026_09: REINDEX TABLE CONCURRENTLY');
      expect(e.context['partition']).toBe('artifact_boms_2026_09');
      leftovers = (await invalid()).filter((n) => n !== 'mine_ccnew');
      expect(leftovers.length).toBeGreaterThan(0);
      for (const n of leftovers) {
        expect(n).toMatch(/_ccnew\d*$/);
        expect(e.message).toContain(`DROP INDEX CONCURRENTLY "scanner"."${n}"`);
      }
      expect(e.context['invalidIndexes']).toEqual(leftovers);
      // Nothing finished: the rebuild failed and its leftovers could not be dropped yet.
      expect(e.partial).toEqual({ steps: [], invalidIndexesDropped: [] });
    } finally {
      await lock.release();
    }
    // The next maintain, whatever its steps, drops them first and reports it.
    const next = (await m.maintain('artifact_boms_2026_09', { vacuum: true, analyze: false }))._unsafeUnwrap();
    expect(next.invalidIndexesDropped).toEqual(leftovers);
    expect(await invalid()).toEqual(['mine_ccnew']);
    // A reindex rebuilds it (REINDEX TABLE CONCURRENTLY alone would skip it), which fails on its duplicates: said, and
    // its own leftover of that attempt dropped, the index itself kept.
    const again = (await m.maintain('artifact_boms_2026_09', { vacuum: false, analyze: false, reindex: true }))._unsafeUnwrapErr();
    expect(again.message).toContain('REINDEX INDEX CONCURRENTLY "scanner"."mine_ccnew"');
    expect(again.message).toContain('"scanner"."mine_ccnew" was INVALID');
    expect(again.message).toContain('DROP INDEX CONCURRENTLY "scanner"."mine_ccnew"');
    expect(again.partial?.invalidIndexesDropped).toEqual(['mine_ccnew_ccnew']);
    expect(await invalid()).toEqual(['mine_ccnew']);
    await db.query("DELETE FROM scanner.artifact_boms WHERE build_id = 'd2'");
    const fixed = (await m.maintain('artifact_boms_2026_09', { vacuum: false, analyze: false, reindex: true }))._unsafeUnwrap();
    expect(fixed.steps.map((s) => s.sql)).toContain('REINDEX INDEX CONCURRENTLY "scanner"."mine_ccnew"');
    expect(await invalid()).toEqual([]);
    await db.query('DROP INDEX scanner.mine_ccnew');
  });

  it('rebuilds an INVALID index a failed CREATE INDEX CONCURRENTLY left, which REINDEX TABLE CONCURRENTLY skips', async () => {
    const invalid = (): Promise<string[]> => invalidIndexesOf('artifact_boms_2026_08');
    await db.query(
      "INSERT INTO scanner.artifact_boms VALUES ('e1', 'same', null, '2026-08-02 00:00:00+00'), ('e2', 'same', null, '2026-08-03 00:00:00+00')",
    );
    await db
      .query('CREATE UNIQUE INDEX CONCURRENTLY boms_aug_sha_uniq ON scanner.artifact_boms_2026_08 (canonical_bom_sha256)')
      .catch(() => undefined);
    await db.query("DELETE FROM scanner.artifact_boms WHERE build_id = 'e2'");
    expect(await invalid()).toEqual(['boms_aug_sha_uniq']);
    const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW });
    const r = (await m.maintain('artifact_boms_2026_08', { vacuum: false, analyze: false, reindex: true }))._unsafeUnwrap();
    expect(r.steps.map((s) => s.sql)).toEqual([
      'REINDEX TABLE CONCURRENTLY "scanner"."artifact_boms_2026_08"',
      'REINDEX INDEX CONCURRENTLY "scanner"."boms_aug_sha_uniq"',
    ]);
    expect(r.invalidIndexesDropped).toEqual([]);
    expect(await invalid()).toEqual([]);
    await db.query('DROP INDEX scanner.boms_aug_sha_uniq');
  });

  it.for<[string, MaintainOptions]>([
    ['vacuums', { vacuum: true, analyze: true }],
    ['reindexes', { vacuum: false, analyze: false, reindex: true }],
  ])(
    "a second maintain that %s while the first's REINDEX CONCURRENTLY runs leaves its new indexes alone and says to wait for it",
    async ([, options]) => {
      const part = 'artifact_boms_2026_10';
      // A transaction with an old snapshot holds the first rebuild in "waiting for old snapshots", its _ccnew indexes INVALID.
      const snapshot = new pg.Client({ connectionString: db.url });
      await snapshot.connect();
      await snapshot.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await snapshot.query('SELECT count(*) FROM scanner.artifact_boms_2026_11');
      const manager = (lockTimeoutMs: number): PartitionManager =>
        new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', lockTimeoutMs });
      const first = manager(30_000).maintain(part, { vacuum: false, analyze: false, reindex: true });
      try {
        for (let i = 0; i < 200; i++) {
          const [row] = await db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_progress_create_index WHERE relid = $1::regclass AND phase = 'waiting for old snapshots'",
            [`scanner.${part}`],
          );
          if (row?.n === 1) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const building = await invalidIndexesOf(part);
        expect(building.length).toBeGreaterThan(0);
        for (const n of building) expect(n).toMatch(/_ccnew$/);
        const e = (await manager(300).maintain(part, options))._unsafeUnwrapErr();
        expect(e.code).toBe('LOCK_TIMEOUT');
        expect(e.message).toContain(`Another session is building indexes of scanner.${part} right now`);
        expect(e.message).toContain('REINDEX CONCURRENTLY');
        for (const n of building) expect(e.message).toContain(n);
        expect(e.message).toContain('do not drop them');
        // Never the advice for a failed rebuild's leftovers.
        expect(e.message).not.toContain('DROP INDEX');
        expect(e.message).not.toContain('Left INVALID indexes');
        expect(e.context['invalidIndexes'] ?? []).toEqual([]);
        expect(e.partial).toEqual({ steps: [], invalidIndexesDropped: [] });
        expect(await invalidIndexesOf(part)).toEqual(building);
      } finally {
        await snapshot.query('COMMIT');
        await snapshot.end();
      }
      // The first run finishes its rebuild undisturbed.
      const r = (await first)._unsafeUnwrap();
      expect(r.steps.map((s) => s.step)).toEqual(['reindex']);
      expect(await invalidIndexesOf(part)).toEqual([]);
    },
  );
});
