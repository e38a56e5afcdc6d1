import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { catalogBounds, holdLock, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const NOW = new Date('2026-11-15T08:00:00Z');
const manager = (extra: Partial<ConstructorParameters<typeof PartitionManager>[0]> = {}): PartitionManager =>
  new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW, ...extra });

/** Every table in the schema with its oid and row count: what "changed nothing" is checked against. */
async function fingerprint(): Promise<string> {
  const tables = await db.query<{ name: string; oid: number; part: boolean }>(
    "SELECT c.relname AS name, c.oid::int AS oid, c.relispartition AS part FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'scanner' AND c.relkind IN ('r', 'p') ORDER BY 1",
  );
  const out: string[] = [];
  for (const t of tables) {
    const [c] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM scanner."${t.name}"`);
    out.push(`${t.name}:${t.oid}:${t.part}:${c?.n}`);
  }
  return out.join('\n');
}

beforeEach(async () => {
  // 2025-01 … 2026-12: 24 managed months.
  (await manager().ensure({ behind: 22, ahead: 1 }))._unsafeUnwrap();
  await db.query(`INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at)
    SELECT 'b' || g, md5(g::text), timestamptz '2025-01-01 00:00:00+00' + (g || ' hours')::interval FROM generate_series(0, 16000) g`);
  // Look-alikes: a plain backup table, a partition with an impossible month, one whose bounds contradict its name.
  await db.query(`
    CREATE TABLE scanner.artifact_boms_backup (LIKE scanner.artifact_boms);
    INSERT INTO scanner.artifact_boms_backup SELECT * FROM scanner.artifact_boms_2025_01;
    CREATE TABLE scanner.artifact_boms_2024_13 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2023-01-01 00:00:00+00') TO ('2023-02-01 00:00:00+00');
    CREATE TABLE scanner.artifact_boms_2024_06 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2024-06-01 00:00:00+00') TO ('2024-06-15 00:00:00+00');
    INSERT INTO scanner.artifact_boms VALUES ('lookalike-1', 'x', null, '2023-01-05 00:00:00+00'), ('lookalike-2', 'x', null, '2024-06-05 00:00:00+00');
    ANALYZE scanner.artifact_boms;`);
});

describe('retention', () => {
  it('dry run (the default) plans with bounds, row estimates and sizes, and changes nothing', async () => {
    const before = await fingerprint();
    const plan = (await manager().retention({ keep: 12 }))._unsafeUnwrap();
    expect(plan.dryRun).toBe(true);
    expect(plan.cutoff.toISOString()).toBe('2025-11-01T00:00:00.000Z');
    expect(plan.candidates.map((c) => c.name)).toEqual(
      Array.from({ length: 10 }, (_, i) => `artifact_boms_2025_${String(i + 1).padStart(2, '0')}`),
    );
    for (const c of plan.candidates) {
      expect(c.to.getTime()).toBeLessThanOrEqual(plan.cutoff.getTime());
      expect(c.done).toBe(false);
      expect(c.sizeBytes).toBeGreaterThan(0);
      expect(c.estimatedRows).toBeGreaterThan(600);
    }
    expect(plan.ignored.map((i) => i.name).sort()).toEqual(['artifact_boms_2024_06', 'artifact_boms_2024_13']);
    expect(await fingerprint()).toBe(before);
  });

  it('plans a dry run in the same few round trips however many partitions it would drop', async () => {
    const tripsFor = async (keep: number): Promise<{ trips: number; candidates: number }> => {
      const client = await db.pool.connect();
      let trips = 0;
      const counted = {
        query: (...args: unknown[]) => {
          trips += 1;
          return (client.query as (...a: unknown[]) => unknown)(...args);
        },
      };
      try {
        const plan = (await manager({ pg: counted }).retention({ keep }))._unsafeUnwrap();
        return { trips, candidates: plan.candidates.length };
      } finally {
        client.release();
      }
    };
    const few = await tripsFor(20);
    const many = await tripsFor(12);
    expect([few.candidates, many.candidates]).toEqual([2, 10]);
    expect(many.trips).toBe(few.trips);
  });

  it('drops only expired managed partitions and never a look-alike or an in-window one', async () => {
    const [{ kept } = { kept: 0 }] = await db.query<{ kept: number }>(
      "SELECT count(*)::int AS kept FROM scanner.artifact_boms WHERE inserted_at >= '2025-11-01 00:00:00+00'",
    );
    const r = (await manager().retention({ keep: 12, dryRun: false }))._unsafeUnwrap();
    expect(r.candidates.every((c) => c.done)).toBe(true);
    const names = [...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()];
    expect(names).toContain('artifact_boms_2024_13');
    expect(names).toContain('artifact_boms_2024_06');
    expect(names).toContain('artifact_boms_2025_11');
    expect(names.filter((n) => /^artifact_boms_2025_(0\d|10)$/.test(n))).toEqual([]);
    const [after] = await db.query<{ kept: number; look: number; backup: number }>(`SELECT
      (SELECT count(*)::int FROM scanner.artifact_boms WHERE inserted_at >= '2025-11-01 00:00:00+00') AS kept,
      (SELECT count(*)::int FROM scanner.artifact_boms WHERE build_id LIKE 'lookalike-%') AS look,
      (SELECT count(*)::int FROM scanner.artifact_boms_backup) AS backup`);
    expect(after).toEqual({ kept, look: 2, backup: 744 });
    // A second run finds nothing more to do.
    expect((await manager().retention({ keep: 12, dryRun: false }))._unsafeUnwrap().candidates).toEqual([]);
  });

  it('detach keeps the tables, CONCURRENTLY when allowed', async () => {
    const r = (await manager().retention({ keep: 20, dryRun: false, mode: 'detach', concurrently: true }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.action, c.concurrently, c.done])).toEqual([
      ['artifact_boms_2025_01', 'detach', true, true],
      ['artifact_boms_2025_02', 'detach', true, true],
    ]);
    const rows = await db.query<{ part: boolean; n: number }>(
      "SELECT c.relispartition AS part, (SELECT count(*)::int FROM scanner.artifact_boms_2025_01) AS n FROM pg_class c WHERE c.oid = 'scanner.artifact_boms_2025_01'::regclass",
    );
    expect(rows[0]).toEqual({ part: false, n: 744 });
  });

  it('drop with concurrently detaches CONCURRENTLY, then drops', async () => {
    const r = (await manager().retention({ keep: 21, dryRun: false, mode: 'drop', concurrently: true }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.action, c.concurrently, c.done])).toEqual([['artifact_boms_2025_01', 'drop', true, true]]);
    expect(await db.query("SELECT to_regclass('scanner.artifact_boms_2025_01') AS t")).toEqual([{ t: null }]);
  });

  it('falls back to a plain detach when a default partition forbids CONCURRENTLY', async () => {
    await db.query('CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT');
    const r = (await manager().retention({ keep: 21, dryRun: false, mode: 'detach', concurrently: true }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.concurrently, c.done])).toEqual([['artifact_boms_2025_01', false, true]]);
    expect(r.ignored.map((i) => i.name)).toContain('artifact_boms_default');
  });

  it('a partition PostgreSQL refuses to drop (a view depends on it) does not keep the expired ones after it', async () => {
    await db.query('CREATE VIEW scanner.january AS SELECT * FROM scanner.artifact_boms_2025_01');
    const e = (await manager().retention({ keep: 20, dryRun: false }))._unsafeUnwrapErr();
    expect([e.code, e.dbCode, e.context.partition]).toEqual(['DB_ERROR', '2BP01', 'artifact_boms_2025_01']);
    expect(e.partial?.candidates.map((c) => [c.name, c.done])).toEqual([
      ['artifact_boms_2025_01', false],
      ['artifact_boms_2025_02', true],
    ]);
    const names = [...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()];
    expect(names).toContain('artifact_boms_2025_01');
    expect(names).not.toContain('artifact_boms_2025_02');
  });

  it('returns LOCK_TIMEOUT with the partial report when the table is busy', async () => {
    const lock = await holdLock(db.url, 'scanner.artifact_boms', 'ACCESS SHARE');
    try {
      const r = await manager({ lockTimeoutMs: 150 }).retention({ keep: 12, dryRun: false });
      const e = r._unsafeUnwrapErr();
      expect(e.code).toBe('LOCK_TIMEOUT');
      expect(e.context.partition).toBe('artifact_boms_2025_01');
      expect(e.partial?.candidates).toHaveLength(10);
      expect(e.partial?.candidates.filter((c) => c.done)).toEqual([]);
    } finally {
      await lock.release();
    }
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2025_01')).toBe(true);
  });

  it('is not held up by a lock on a table an earlier drop run left marked that it does not drop, and times out on one it drops', async () => {
    // What a drop run killed between its detach and its DROP leaves: plain tables carrying the mark.
    await db.query(`
      CREATE TABLE scanner.artifact_boms_2024_02 (LIKE scanner.artifact_boms);
      CREATE TABLE scanner.artifact_boms_2027_03 (LIKE scanner.artifact_boms);
      COMMENT ON TABLE scanner.artifact_boms_2024_02 IS 'backfill-kit retention: detached, to be dropped';
      COMMENT ON TABLE scanner.artifact_boms_2027_03 IS 'backfill-kit retention: detached, to be dropped';`);
    const within = <T>(p: PromiseLike<T>): Promise<T | 'hung'> =>
      Promise.race([p, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000))]);
    // A VACUUM FULL (or an operator's open transaction) on the one retention does not drop: it plans as ever.
    const kept = await holdLock(db.url, 'scanner.artifact_boms_2027_03', 'ACCESS EXCLUSIVE');
    try {
      const r = await within(manager({ lockTimeoutMs: 150 }).retention({ keep: 12 }));
      expect(r).not.toBe('hung');
      if (r === 'hung') return;
      expect(r._unsafeUnwrap().candidates.map((c) => c.name)).toContain('artifact_boms_2024_02');
      expect(r._unsafeUnwrap().candidates.map((c) => c.name)).not.toContain('artifact_boms_2027_03');
    } finally {
      await kept.release();
    }
    // On the one it drops: its DROP would wait too, so LOCK_TIMEOUT naming it, not a job as long as the lock.
    const dropped = await holdLock(db.url, 'scanner.artifact_boms_2024_02', 'ACCESS EXCLUSIVE');
    try {
      const r = await within(manager({ lockTimeoutMs: 150 }).retention({ keep: 12 }));
      expect(r).not.toBe('hung');
      if (r === 'hung') return;
      expect(r._unsafeUnwrapErr().code).toBe('LOCK_TIMEOUT');
      expect(r._unsafeUnwrapErr().message).toContain('artifact_boms_2024_02');
    } finally {
      await dropped.release();
    }
  });

  it('drops a table an earlier drop run left marked though a partition of another schema bears its name', async () => {
    await db.query(`
      CREATE TABLE scanner.artifact_boms_2024_02 (LIKE scanner.artifact_boms);
      COMMENT ON TABLE scanner.artifact_boms_2024_02 IS 'backfill-kit retention: detached, to be dropped';
      CREATE SCHEMA archive;
      CREATE TABLE archive.artifact_boms_2024_02 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2024-02-01 00:00:00+00') TO ('2024-03-01 00:00:00+00');
      INSERT INTO archive.artifact_boms_2024_02 VALUES ('archived', 'x', null, '2024-02-05 00:00:00+00');`);
    try {
      const r = (await manager().retention({ keep: 12, dryRun: false, concurrently: true }))._unsafeUnwrap();
      expect(r.candidates.find((c) => c.name === 'artifact_boms_2024_02')?.done).toBe(true);
      const left = await db.query<{ t: string | null }>("SELECT to_regclass('scanner.artifact_boms_2024_02')::text AS t");
      expect(left[0]?.t).toBeNull();
      // The partition of the other schema is no candidate: it stays attached, rows and all.
      expect(await db.query("SELECT build_id FROM scanner.artifact_boms WHERE build_id = 'archived'")).toHaveLength(1);
    } finally {
      await db.query('DROP SCHEMA archive CASCADE');
    }
  });

  it('validates its options', async () => {
    expect((await manager().retention({ keep: -1 }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await manager().retention({ keep: 1.5 }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await manager().retention({ mode: 'truncate' as 'drop' }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });
});

describe('retention against a wrong host clock', () => {
  const YEAR_MS = 365 * 86_400_000;
  afterEach(() => {
    vi.useRealTimers();
  });
  /** The manager on the host's clock (no `now`), with that clock `offsetMs` off; the database's clock is the real one. */
  const onHostClock = (offsetMs: number, extra: Partial<ConstructorParameters<typeof PartitionManager>[0]> = {}): PartitionManager => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + offsetMs });
    return new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', ...extra });
  };

  it.for([
    ['a year fast', YEAR_MS],
    ['a year slow', -YEAR_MS],
    ['ten minutes fast', 600_000],
  ] as const)('refuses with CLOCK_SKEW and changes nothing when the host clock is %s', async ([, offset]) => {
    const before = await fingerprint();
    for (const dryRun of [false, true]) {
      const r = await onHostClock(offset).retention({ keep: 12, dryRun });
      const e = r._unsafeUnwrapErr();
      expect(e.code).toBe('CLOCK_SKEW');
      expect(e.message).toMatch(/host's clock reads .* database's reads/);
      expect(e.message).toContain(offset > 0 ? 'ahead of' : 'behind');
      expect(e.message).toMatch(/--now.*maxClockSkewMs/);
      expect(e.partial).toBeUndefined();
      vi.useRealTimers();
    }
    expect(await fingerprint()).toBe(before);
  });

  it('runs on a host clock within the tolerance, and maxClockSkewMs widens it', async () => {
    const plan = (await onHostClock(60_000).retention({ keep: 12 }))._unsafeUnwrap();
    vi.useRealTimers();
    expect(plan.cutoff.getTime()).toBeLessThan(Date.now());
    const wide = (await onHostClock(600_000, { maxClockSkewMs: 3_600_000 }).retention({ keep: 12 }))._unsafeUnwrap();
    expect(wide.dryRun).toBe(true);
  });

  it('takes a now the caller passes as meant: a back-dated run is never compared with the database', async () => {
    const plan = (await manager({ now: new Date('2024-01-15T00:00:00Z') }).retention({ keep: 0 }))._unsafeUnwrap();
    expect(plan.cutoff.toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect((await manager({ now: () => new Date(Date.now() + YEAR_MS) }).retention({ keep: 12 })).isOk()).toBe(true);
  });

  it('validates maxClockSkewMs', async () => {
    const r = await manager({ maxClockSkewMs: 0 }).retention();
    expect(r._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(r._unsafeUnwrapErr().message).toContain('maxClockSkewMs');
  });
});
