/**
 * A `DETACH PARTITION … CONCURRENTLY` killed in its second phase leaves the partition "detach pending":
 * PostgreSQL then refuses every other concurrent detach on the parent, and the partition's rows are no
 * longer seen through the parent. The daily job must finish it or say so, and keep going.
 */
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { catalogBounds, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const NOW = new Date('2026-11-15T08:00:00Z');
const manager = (): PartitionManager =>
  new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW });

/** The partitions left "detach pending" on the parent. */
async function pending(): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    "SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'scanner.artifact_boms'::regclass AND inhdetachpending ORDER BY 1",
  );
  return rows.map((r) => r.name);
}

/**
 * Holds a REPEATABLE READ snapshot on the parent so a concurrent detach waits in its second phase, runs
 * `start` (which begins that detach), then terminates the detaching backend: the partition stays pending.
 */
async function interruptDetach(start: () => Promise<unknown>): Promise<unknown> {
  const reader = new pg.Client({ connectionString: db.url });
  await reader.connect();
  try {
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await reader.query('SELECT count(*) FROM scanner.artifact_boms');
    const running = start().catch((error: unknown) => error);
    for (let i = 0; ; i++) {
      const [row] = await db.query<{ pid: number | null }>(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE '%DETACH PARTITION%CONCURRENTLY%' AND wait_event = 'virtualxid' AND pid <> pg_backend_pid()",
      );
      if (row?.pid) {
        await db.query('SELECT pg_terminate_backend($1)', [row.pid]);
        break;
      }
      if (i > 200) throw new Error('the concurrent detach never started waiting');
      await new Promise((r) => setTimeout(r, 25));
    }
    return await running;
  } finally {
    await reader.query('ROLLBACK').catch(() => undefined);
    await reader.end();
  }
}

beforeEach(async () => {
  // 2025-01 … 2026-12: 24 managed months, one row a day.
  (await manager().ensure({ behind: 22, ahead: 1 }))._unsafeUnwrap();
  await db.query(`INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at)
    SELECT 'b' || g, md5(g::text), timestamptz '2025-01-01 00:00:00+00' + (g || ' days')::interval FROM generate_series(0, 699) g`);
});

describe('a detach left pending by a killed retention', () => {
  it('is finished by the next retention, which goes on with the other expired partitions', async () => {
    const killed = await interruptDetach(async () => manager().retention({ keep: 12, dryRun: false, concurrently: true }));
    expect((killed as { isErr(): boolean }).isErr()).toBe(true);
    expect(await pending()).toEqual(['scanner.artifact_boms_2025_01']);
    const r = (await manager().retention({ keep: 12, dryRun: false, concurrently: true }))._unsafeUnwrap();
    expect(r.candidates.every((c) => c.done)).toBe(true);
    expect(await pending()).toEqual([]);
    const names = [...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()];
    expect(names.filter((n) => /^artifact_boms_2025_(0\d|10)$/.test(n))).toEqual([]);
    const [{ n } = { n: 0 }] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM scanner.artifact_boms WHERE inserted_at >= '2025-11-01 00:00:00+00'",
    );
    expect(n).toBe(700 - 304);
  });

  it('left on a partition retention does not remove does not stop the concurrent detach of the expired ones', async () => {
    // An operator's own concurrent detach of a look-alike, interrupted.
    await db.query(
      "CREATE TABLE scanner.artifact_boms_old PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')",
    );
    const detacher = new pg.Client({ connectionString: db.url });
    await detacher.connect();
    detacher.on('error', () => undefined);
    await interruptDetach(() =>
      detacher.query('ALTER TABLE scanner.artifact_boms DETACH PARTITION scanner.artifact_boms_old CONCURRENTLY'),
    );
    expect(await pending()).toEqual(['scanner.artifact_boms_old']);
    const r = (await manager().retention({ keep: 12, dryRun: false, mode: 'detach', concurrently: true }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.done])).toEqual(
      Array.from({ length: 10 }, (_, i) => [`artifact_boms_2025_${String(i + 1).padStart(2, '0')}`, true]),
    );
    const [{ n } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM scanner.artifact_boms_2025_01');
    expect(n).toBe(31);
  });

  it('on a slot of the window is not reported by ensure as an existing partition: its rows have nowhere to go', async () => {
    const detacher = new pg.Client({ connectionString: db.url });
    await detacher.connect();
    detacher.on('error', () => undefined);
    await interruptDetach(() =>
      detacher.query('ALTER TABLE scanner.artifact_boms DETACH PARTITION scanner.artifact_boms_2026_11 CONCURRENTLY'),
    );
    const e = (await manager().ensure({ behind: 1, ahead: 1 }))._unsafeUnwrapErr();
    expect(e.code).toBe('PARTITION_OVERLAP');
    expect(e.message).toContain('FINALIZE');
    expect(e.context.partition).toBe('artifact_boms_2026_11');
    // The other slots are still there, and the data of the pending one is kept.
    const [{ n } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM scanner.artifact_boms_2026_11');
    expect(n).toBe(30);
    // attach does not take it for attached either.
    const a = (await manager().attach('scanner.artifact_boms_2026_11'))._unsafeUnwrapErr();
    expect([a.code, a.message.includes('FINALIZE')]).toEqual(['INVALID_ARGUMENT', true]);
    // The way out the errors give works.
    await db.query('ALTER TABLE scanner.artifact_boms DETACH PARTITION scanner.artifact_boms_2026_11 FINALIZE');
    (await manager().attach('scanner.artifact_boms_2026_11'))._unsafeUnwrap();
    const again = (await manager().ensure({ behind: 1, ahead: 1 }))._unsafeUnwrap();
    expect(again.existing.map((x) => x.name)).toContain('artifact_boms_2026_11');
    const [{ seen } = { seen: 0 }] = await db.query<{ seen: number }>(
      "SELECT count(*)::int AS seen FROM scanner.artifact_boms WHERE inserted_at >= '2026-11-01 00:00:00+00' AND inserted_at < '2026-12-01 00:00:00+00'",
    );
    expect(seen).toBe(30);
  });

  it('a partition a drop run detached but could not drop is dropped by the next run, and only that table', async () => {
    // The detach commits on its own; the DROP after it is refused (as a killed process would leave it).
    await db.query('CREATE VIEW scanner.january AS SELECT * FROM scanner.artifact_boms_2025_01');
    await db.query('CREATE TABLE scanner.artifact_boms_2025_02_restored (LIKE scanner.artifact_boms)');
    const e = (await manager().retention({ keep: 20, dryRun: false, mode: 'drop', concurrently: true }))._unsafeUnwrapErr();
    expect(e.dbCode).toBe('2BP01');
    const [left] = await db.query<{ t: string | null }>("SELECT to_regclass('scanner.artifact_boms_2025_01')::text AS t");
    expect(left?.t).toBe('scanner.artifact_boms_2025_01');
    await db.query('DROP VIEW scanner.january');
    // A look-alike plain table of an expired month that retention did not detach stays.
    await db.query('CREATE TABLE scanner.artifact_boms_2024_12 (LIKE scanner.artifact_boms)');
    // Inside a longer kept window it is not dropped either.
    expect((await manager().retention({ keep: 30, dryRun: false }))._unsafeUnwrap().candidates).toEqual([]);
    const plan = (await manager().retention({ keep: 20 }))._unsafeUnwrap();
    expect(plan.candidates.map((c) => [c.name, c.action])).toEqual([['artifact_boms_2025_01', 'drop']]);
    const r = (await manager().retention({ keep: 20, dryRun: false, mode: 'drop', concurrently: true }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_01', true]]);
    const rows = await db.query<{ a: string | null; b: string | null; c: string | null }>(
      "SELECT to_regclass('scanner.artifact_boms_2025_01')::text AS a, to_regclass('scanner.artifact_boms_2024_12')::text AS b, to_regclass('scanner.artifact_boms_2025_02_restored')::text AS c",
    );
    expect(rows[0]).toEqual({ a: null, b: 'scanner.artifact_boms_2024_12', c: 'scanner.artifact_boms_2025_02_restored' });
  });

  it('a drop whose concurrent detach times out leaves the partition attached with its own comment, not marked', async () => {
    await db.query("COMMENT ON TABLE scanner.artifact_boms_2025_01 IS 'audited: keep the January notes'");
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      await reader.query('BEGIN');
      await reader.query('LOCK TABLE scanner.artifact_boms_2025_01 IN ACCESS SHARE MODE');
      const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW, lockTimeoutMs: 150 });
      const e = (await m.retention({ keep: 21, dryRun: false, mode: 'drop', concurrently: true }))._unsafeUnwrapErr();
      expect(e.code).toBe('LOCK_TIMEOUT');
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
    }
    const [row] = await db.query<{ part: boolean; note: string | null }>(
      "SELECT relispartition AS part, obj_description(oid, 'pg_class') AS note FROM pg_class WHERE oid = 'scanner.artifact_boms_2025_01'::regclass",
    );
    expect(row).toEqual({ part: true, note: 'audited: keep the January notes' });
  });
});

describe("a drop run keeps the partition's own comment", () => {
  const note = async (table: string): Promise<string | null | undefined> =>
    (await db.query<{ note: string | null }>("SELECT obj_description(to_regclass($1), 'pg_class') AS note", [table]))[0]?.note;

  it('when the DROP after a concurrent detach is refused, and the next run still drops it', async () => {
    await db.query("COMMENT ON TABLE scanner.artifact_boms_2025_01 IS 'audited: keep the January notes'");
    await db.query('CREATE VIEW scanner.january AS SELECT * FROM scanner.artifact_boms_2025_01');
    const e = (await manager().retention({ keep: 20, dryRun: false, mode: 'drop', concurrently: true }))._unsafeUnwrapErr();
    expect(e.dbCode).toBe('2BP01');
    expect(await note('scanner.artifact_boms_2025_01')).toContain('audited: keep the January notes');
    await db.query('DROP VIEW scanner.january');
    const r = (await manager().retention({ keep: 20, dryRun: false, mode: 'drop' }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_01', true]]);
    expect(await note('scanner.artifact_boms_2025_01')).toBeNull();
  });

  it('when the DROP after finishing a pending detach is refused', async () => {
    await db.query("COMMENT ON TABLE scanner.artifact_boms_2025_01 IS 'audited: keep the January notes'");
    await interruptDetach(async () => manager().retention({ keep: 20, dryRun: false, concurrently: true }));
    expect(await pending()).toEqual(['scanner.artifact_boms_2025_01']);
    await db.query('CREATE VIEW scanner.january AS SELECT * FROM scanner.artifact_boms_2025_01');
    const e = (await manager().retention({ keep: 20, dryRun: false, mode: 'drop' }))._unsafeUnwrapErr();
    expect(e.dbCode).toBe('2BP01');
    expect(await note('scanner.artifact_boms_2025_01')).toContain('audited: keep the January notes');
  });

  it('a detach run finishing a drop run’s pending detach keeps the table unmarked, so no later drop run takes it', async () => {
    await db.query("COMMENT ON TABLE scanner.artifact_boms_2025_01 IS 'audited: keep the January notes'");
    // The drop run is killed mid-detach: it never gets to put the comment back.
    await interruptDetach(async () => manager().retention({ keep: 20, dryRun: false, mode: 'drop', concurrently: true }));
    expect(await pending()).toEqual(['scanner.artifact_boms_2025_01']);
    (await manager().retention({ keep: 20, dryRun: false, mode: 'detach' }))._unsafeUnwrap();
    expect(await note('scanner.artifact_boms_2025_01')).toBe('audited: keep the January notes');
    const plan = (await manager().retention({ keep: 20, mode: 'drop' }))._unsafeUnwrap();
    expect(plan.candidates.map((c) => c.name)).not.toContain('artifact_boms_2025_01');
  });
});

describe('a concurrent detach that times out after its first phase', () => {
  it('says the partition is now detach pending and how it gets finished', async () => {
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    let e: Awaited<ReturnType<PartitionManager['retention']>> | undefined;
    try {
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await reader.query('SELECT count(*) FROM scanner.artifact_boms');
      const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW, lockTimeoutMs: 200 });
      e = await m.retention({ keep: 21, dryRun: false, mode: 'detach', concurrently: true });
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
    }
    const error = e!._unsafeUnwrapErr();
    expect(await pending()).toEqual(['scanner.artifact_boms_2025_01']);
    expect(error.code).toBe('LOCK_TIMEOUT');
    expect(error.context.partition).toBe('artifact_boms_2025_01');
    expect(error.message).toMatch(/artifact_boms_2025_01 is now detach pending/);
    expect(error.message).toContain('next retention run');
    expect(error.message).toContain('DETACH PARTITION "scanner"."artifact_boms_2025_01" FINALIZE');
    const r = (await manager().retention({ keep: 21, dryRun: false, mode: 'detach', concurrently: true }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_01', true]]);
    expect(await pending()).toEqual([]);
  });
});

/** Runs `fn` with a manager whose sessions start with `options` (`-c name=value …`), as a role's settings would. */
async function inSession(options: string, fn: (m: PartitionManager) => Promise<void>): Promise<void> {
  const pool = new pg.Pool({ connectionString: db.url, options });
  pool.on('error', () => {});
  try {
    await fn(new PartitionManager({ pg: pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW }));
  } finally {
    await pool.end();
  }
}

const LEGACY_STRINGS = '-c standard_conforming_strings=off -c escape_string_warning=off';

describe('a comment with backslashes', () => {
  it('is put back as it was under standard_conforming_strings = off', async () => {
    const own = 'restored from C:\\backups\\2025\\nightly';
    await db.query(`COMMENT ON TABLE scanner.artifact_boms_2025_01 IS ${"E'restored from C:\\\\backups\\\\2025\\\\nightly'"}`);
    await db.query('CREATE VIEW scanner.january AS SELECT * FROM scanner.artifact_boms_2025_01');
    await inSession(LEGACY_STRINGS, async (m) => {
      expect((await m.retention({ keep: 20, dryRun: false, concurrently: true }))._unsafeUnwrapErr().dbCode).toBe('2BP01');
    });
    const [row] = await db.query<{ note: string | null }>(
      "SELECT obj_description('scanner.artifact_boms_2025_01'::regclass, 'pg_class') AS note",
    );
    expect(row?.note).toBe(`${own}\n\nbackfill-kit retention: detached, to be dropped`);
  });
});

describe('session settings that change how values print', () => {
  for (const [what, options] of [
    ['a low extra_float_digits', '-c extra_float_digits=-8'],
    ['standard_conforming_strings = off', LEGACY_STRINGS],
  ] as const) {
    it(`leave the bounds as read in any other session (${what}): managed, found by ensure, planned by retention`, async () => {
      await inSession(options, async (m) => {
        expect((await m.list())._unsafeUnwrap().filter((p) => !p.managed)).toEqual([]);
        expect((await m.ensure({ ahead: 1 }))._unsafeUnwrap().created).toEqual([]);
        expect((await m.retention({ keep: 21 }))._unsafeUnwrap().candidates.map((c) => c.name)).toEqual(['artifact_boms_2025_01']);
      });
    });
  }
});

describe('a partition a killed drop run marked but never detached', () => {
  it('is detached by a detach run without the mark, so no later drop run takes the table it keeps', async () => {
    // As a drop run leaves it when its connection is lost during the concurrent detach, before putting the comment back.
    await db.query(`COMMENT ON TABLE scanner.artifact_boms_2025_01 IS E'January notes\\n\\nbackfill-kit retention: detached, to be dropped';
      COMMENT ON TABLE scanner.artifact_boms_2025_02 IS 'backfill-kit retention: detached, to be dropped'`);
    (await manager().retention({ keep: 20, dryRun: false, mode: 'detach', concurrently: true }))._unsafeUnwrap();
    const notes = await db.query<{ name: string; note: string | null }>(
      "SELECT relname AS name, obj_description(oid, 'pg_class') AS note FROM pg_class WHERE relname IN ('artifact_boms_2025_01', 'artifact_boms_2025_02') ORDER BY 1",
    );
    expect(notes).toEqual([
      { name: 'artifact_boms_2025_01', note: 'January notes' },
      { name: 'artifact_boms_2025_02', note: null },
    ]);
    expect((await manager().retention({ keep: 20, mode: 'drop' }))._unsafeUnwrap().candidates).toEqual([]);
  });
});

describe('a sub-partitioned partition a drop run detached but did not drop', () => {
  it('is found and dropped by the next drop run, like a plain one', async () => {
    // As a drop run stopped between its detach and its DROP leaves an expired month that was itself partitioned.
    await db.query(`CREATE TABLE scanner.artifact_boms_2024_12 (LIKE scanner.artifact_boms) PARTITION BY LIST (build_id);
      CREATE TABLE scanner.artifact_boms_2024_12_a PARTITION OF scanner.artifact_boms_2024_12 DEFAULT;
      COMMENT ON TABLE scanner.artifact_boms_2024_12 IS 'backfill-kit retention: detached, to be dropped'`);
    const plan = (await manager().retention({ keep: 22 }))._unsafeUnwrap();
    expect(plan.candidates.map((c) => c.name)).toEqual(['artifact_boms_2024_12']);
    (await manager().retention({ keep: 22, dryRun: false }))._unsafeUnwrap();
    const [row] = await db.query<{ t: string | null }>("SELECT to_regclass('scanner.artifact_boms_2024_12')::text AS t");
    expect(row?.t).toBeNull();
  });
});

describe('a table a drop run detached and marked, attached back', () => {
  it('loses the mark, so once detached by hand again no drop run takes it', async () => {
    await db.query("COMMENT ON TABLE scanner.artifact_boms_2025_01 IS 'January notes'");
    await db.query('CREATE VIEW scanner.january AS SELECT * FROM scanner.artifact_boms_2025_01');
    expect((await manager().retention({ keep: 20, dryRun: false, concurrently: true }))._unsafeUnwrapErr().dbCode).toBe('2BP01');
    await db.query('DROP VIEW scanner.january');
    // The operator keeps January after all: attached back, then detached by hand for an archive.
    expect((await manager().attach('scanner.artifact_boms_2025_01'))._unsafeUnwrap().alreadyAttached).toBe(false);
    const [row] = await db.query<{ note: string | null }>(
      "SELECT obj_description('scanner.artifact_boms_2025_01'::regclass, 'pg_class') AS note",
    );
    expect(row?.note).toBe('January notes');
    await db.query('ALTER TABLE scanner.artifact_boms DETACH PARTITION scanner.artifact_boms_2025_01');
    expect((await manager().retention({ keep: 20, mode: 'drop' }))._unsafeUnwrap().candidates.map((c) => c.name)).toEqual([]);
  });
});
