import { describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { artifactBomsManager, catalogBounds, createArtifactBomsTable, holdLock, rowHomes, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created), { table: false });

const manager = (now: string, extra: Parameters<typeof artifactBomsManager>[2] = {}): PartitionManager =>
  artifactBomsManager(db, now, extra);

const range = (from: string, to: string): string => `FOR VALUES FROM ('${from} 00:00:00+00') TO ('${to} 00:00:00+00')`;

/** The runbook's columns through `createParent`, with an index on the digest and a default partition. */
async function createWithDefault(m: PartitionManager): Promise<void> {
  (
    await m.createParent({
      columns: [
        { name: 'build_id', type: 'text', notNull: true },
        { name: 'canonical_bom_sha256', type: 'text', notNull: true },
        { name: 'inserted_at', type: 'timestamptz', notNull: true },
      ],
      primaryKey: ['build_id', 'inserted_at'],
      indexes: [{ columns: ['canonical_bom_sha256'] }],
      defaultPartition: true,
    })
  )._unsafeUnwrap();
}

describe("ensure on the partition runbook's table", () => {
  it('creates the current and next month across a year rollover, with UTC bounds rows route by', async () => {
    await createArtifactBomsTable(db);
    const r = (await manager('2026-12-15T10:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(r.created.map((c) => c.name)).toEqual(['artifact_boms_2026_12', 'artifact_boms_2027_01']);
    expect(r.existing).toEqual([]);
    const bounds = await catalogBounds(db, 'scanner', 'artifact_boms');
    expect(Object.fromEntries(bounds)).toEqual({
      artifact_boms_2026_12: range('2026-12-01', '2027-01-01'),
      artifact_boms_2027_01: range('2027-01-01', '2027-02-01'),
    });
    await db.query(`INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES
      ('a', 'x', '2026-12-31 23:59:59.999999+00'), ('b', 'x', '2027-01-01 00:00:00+00'), ('c', 'x', '2027-01-01 00:30:00+01')`);
    expect(await rowHomes(db)).toEqual({
      a: 'scanner.artifact_boms_2026_12',
      b: 'scanner.artifact_boms_2027_01',
      c: 'scanner.artifact_boms_2026_12',
    });
  });

  it('is idempotent and reports what already existed', async () => {
    await createArtifactBomsTable(db);
    (await manager('2026-11-23T00:00:00Z').ensure())._unsafeUnwrap();
    const again = (await manager('2026-11-23T00:00:00Z').ensure())._unsafeUnwrap();
    expect(again.created).toEqual([]);
    expect(again.existing.map((e) => [e.name, e.coveredBy])).toEqual([
      ['artifact_boms_2026_11', 'artifact_boms_2026_11'],
      ['artifact_boms_2026_12', 'artifact_boms_2026_12'],
    ]);
  });

  it('takes the current month from the instant exactly at a boundary', async () => {
    await createArtifactBomsTable(db);
    const before = (await manager('2027-01-31T23:59:59.999Z').ensure({ ahead: 0 }))._unsafeUnwrap();
    expect(before.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
    const at = (await manager('2027-02-01T00:00:00.000Z').ensure({ ahead: 0 }))._unsafeUnwrap();
    expect(at.created.map((c) => c.name)).toEqual(['artifact_boms_2027_02']);
  });

  it('fills gaps between existing partitions only with fillGaps, and creates behind', async () => {
    await createArtifactBomsTable(db);
    await db.query(`SET TIME ZONE 'UTC';
      CREATE TABLE scanner.artifact_boms_2026_01 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
      CREATE TABLE scanner.artifact_boms_2026_05 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-05-01') TO ('2026-06-01');`);
    const windowOnly = (await manager('2026-07-02T00:00:00Z').ensure({ ahead: 0, behind: 1 }))._unsafeUnwrap();
    expect(windowOnly.created.map((c) => c.name)).toEqual(['artifact_boms_2026_06', 'artifact_boms_2026_07']);
    const r = (await manager('2026-07-02T00:00:00Z').ensure({ ahead: 0, behind: 1, fillGaps: true }))._unsafeUnwrap();
    expect(r.created.map((c) => c.name)).toEqual(['artifact_boms_2026_02', 'artifact_boms_2026_03', 'artifact_boms_2026_04']);
    const bounds = [...(await catalogBounds(db, 'scanner', 'artifact_boms')).values()].sort();
    // Contiguous: every upper bound is the next lower bound.
    const pairs = bounds.map((b) => /FROM \('(.*)'\) TO \('(.*)'\)/.exec(b)!.slice(1));
    for (let i = 1; i < pairs.length; i++) expect(pairs[i]![0]).toBe(pairs[i - 1]![1]);
  });

  it('keeps retention: after attaching one restored month, the daily ensure creates only the window', async () => {
    await createArtifactBomsTable(db);
    const m = manager('2026-11-23T00:00:00Z');
    (await m.ensure({ ahead: 1 }))._unsafeUnwrap();
    await db.query(`CREATE TABLE scanner.artifact_boms_2022_06 (LIKE scanner.artifact_boms INCLUDING ALL);
      INSERT INTO scanner.artifact_boms_2022_06 (build_id, canonical_bom_sha256, inserted_at) VALUES ('old', 'x', '2022-06-15 00:00:00+00');`);
    (await m.attach('scanner.artifact_boms_2022_06'))._unsafeUnwrap();
    const daily = (await m.ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(daily.created).toEqual([]);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()].sort()).toEqual([
      'artifact_boms_2022_06',
      'artifact_boms_2026_11',
      'artifact_boms_2026_12',
    ]);
    // Asked for explicitly, the 52 months between come back.
    const filled = (await m.ensure({ ahead: 1, fillGaps: true }))._unsafeUnwrap();
    expect(filled.created.map((c) => c.name)).toHaveLength(52);
    expect(filled.created[0]!.name).toBe('artifact_boms_2022_07');
    expect(filled.created.at(-1)!.name).toBe('artifact_boms_2026_10');
    const bad = await m.ensure({ fillGaps: 'yes' as unknown as boolean });
    expect(bad.isErr() && bad.error.code).toBe('INVALID_ARGUMENT');
  });

  it.for<[string, string, RegExp]>([
    [
      "the parent's own default partition",
      'CREATE TABLE scanner.artifact_boms_2026_12 PARTITION OF scanner.artifact_boms DEFAULT',
      /the default partition of scanner\.artifact_boms/,
    ],
    [
      "one of the parent's own partitions, with other bounds",
      "CREATE TABLE scanner.artifact_boms_2026_12 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2030-01-01 00:00:00+00') TO ('2030-02-01 00:00:00+00')",
      /a partition of scanner\.artifact_boms whose bounds are not its name's: FOR VALUES FROM \('2030-01-01/,
    ],
  ])("names %s holding a slot's name as that, and says to rename it", async ([, ddl, what]) => {
    await createArtifactBomsTable(db);
    await db.query(ddl);
    const e = (await manager('2026-11-23T00:00:00Z').ensure({ ahead: 2 }))._unsafeUnwrapErr();
    expect(e.code).toBe('PARTITION_NAME_TAKEN');
    expect(e.message).toMatch(what);
    expect(e.message).not.toContain('a partition of another table');
    expect(e.message).toContain('RENAME TO artifact_boms_2026_12_kept');
    expect(e.message).not.toContain('attach');
    expect(e.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2026_11', 'artifact_boms_2027_01']);
    // Renamed as told, the next run makes the slot.
    await db.query('ALTER TABLE scanner.artifact_boms_2026_12 RENAME TO artifact_boms_2026_12_kept');
    expect((await manager('2026-11-23T00:00:00Z').ensure({ ahead: 2 }))._unsafeUnwrap().created.map((c) => c.name)).toEqual([
      'artifact_boms_2026_12',
    ]);
  });

  it("creates every other slot when a standalone table holds one slot's name, and says which and what to do", async () => {
    await createArtifactBomsTable(db);
    await db.query(`CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
      INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES ('jan', 'x', '2027-01-10 00:00:00+00');
      CREATE TABLE scanner.artifact_boms_2026_12 (LIKE scanner.artifact_boms INCLUDING ALL);
      INSERT INTO scanner.artifact_boms_2026_12 (build_id, canonical_bom_sha256, inserted_at) VALUES ('restored', 'x', '2026-05-01 00:00:00+00');`);
    const r = await manager('2026-11-23T00:00:00Z').ensure({ ahead: 3 });
    expect(r.isErr() && r.error.code).toBe('PARTITION_NAME_TAKEN');
    const e = r._unsafeUnwrapErr();
    expect(e.message).toContain('scanner.artifact_boms_2026_12 (a standalone table)');
    expect(e.message).toContain('attach');
    expect(e.context['taken']).toEqual(['scanner.artifact_boms_2026_12']);
    expect(e.partial?.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([
      ['artifact_boms_2026_11', 0],
      ['artifact_boms_2027_01', 1],
      ['artifact_boms_2027_02', 0],
    ]);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()].sort()).toEqual([
      'artifact_boms_2026_11',
      'artifact_boms_2027_01',
      'artifact_boms_2027_02',
      'artifact_boms_default',
    ]);
    // The standalone table is untouched, and next month's rows have a home.
    expect(await db.query('SELECT build_id FROM scanner.artifact_boms_2026_12')).toEqual([{ build_id: 'restored' }]);
    await db.query(
      `INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES ('feb', 'x', '2027-02-02 00:00:00+00')`,
    );
    expect((await rowHomes(db))['feb']).toBe('scanner.artifact_boms_2027_02');
    expect((await rowHomes(db))['jan']).toBe('scanner.artifact_boms_2027_01');
    // Slot by slot too, and an index holding the name is named as one.
    await db.query(
      'DROP TABLE scanner.artifact_boms_2026_12; CREATE INDEX artifact_boms_2027_03 ON scanner.artifact_boms_2027_02 (build_id)',
    );
    const next = await manager('2026-11-23T00:00:00Z').ensure({ ahead: 4, batchSize: 1 });
    expect(next._unsafeUnwrapErr().message).toContain('scanner.artifact_boms_2027_03 (an index)');
    expect(next._unsafeUnwrapErr().partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2026_12']);
  });

  it('works with day, ISO week and year intervals on date and timestamp keys', async () => {
    await db.query(`CREATE SCHEMA scanner;
      CREATE TABLE scanner.d (k date NOT NULL) PARTITION BY RANGE (k);
      CREATE TABLE scanner.w (k timestamp NOT NULL) PARTITION BY RANGE (k);
      CREATE TABLE scanner.y (k date NOT NULL) PARTITION BY RANGE (k);`);
    const now = new Date('2026-12-31T12:00:00Z');
    const mk = (table: string, interval: 'day' | 'week' | 'year') =>
      new PartitionManager({ pg: db.pool, table: `scanner.${table}`, column: 'k', interval, now });
    expect((await mk('d', 'day').ensure({ ahead: 1 }))._unsafeUnwrap().created.map((c) => c.name)).toEqual([
      'd_2026_12_31',
      'd_2027_01_01',
    ]);
    expect((await mk('w', 'week').ensure({ ahead: 1 }))._unsafeUnwrap().created.map((c) => c.name)).toEqual(['w_2026_W53', 'w_2027_W01']);
    expect((await mk('y', 'year').ensure({ ahead: 1 }))._unsafeUnwrap().created.map((c) => c.name)).toEqual(['y_2026', 'y_2027']);
    expect(Object.fromEntries(await catalogBounds(db, 'scanner', 'w'))).toEqual({
      w_2026_W53: "FOR VALUES FROM ('2026-12-28 00:00:00') TO ('2027-01-04 00:00:00')",
      w_2027_W01: "FOR VALUES FROM ('2027-01-04 00:00:00') TO ('2027-01-11 00:00:00')",
    });
    expect(Object.fromEntries(await catalogBounds(db, 'scanner', 'd'))).toEqual({
      d_2026_12_31: "FOR VALUES FROM ('2026-12-31') TO ('2027-01-01')",
      d_2027_01_01: "FOR VALUES FROM ('2027-01-01') TO ('2027-01-02')",
    });
  });

  it('serialises two concurrent runs: every slot created exactly once', async () => {
    await createArtifactBomsTable(db);
    const poolA = new pg.Pool({ connectionString: db.url, max: 2 });
    const poolB = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      const now = new Date('2026-11-23T00:00:00Z');
      const a = new PartitionManager({ pg: poolA, table: 'scanner.artifact_boms', column: 'inserted_at', now });
      const b = new PartitionManager({ pg: poolB, table: 'scanner.artifact_boms', column: 'inserted_at', now });
      const [ra, rb] = await Promise.all([a.ensure({ ahead: 36 }), b.ensure({ ahead: 36 })]);
      const created = [...ra._unsafeUnwrap().created, ...rb._unsafeUnwrap().created].map((c) => c.name);
      expect(created).toHaveLength(37);
      expect(new Set(created).size).toBe(37);
      expect((await catalogBounds(db, 'scanner', 'artifact_boms')).size).toBe(37);
    } finally {
      await poolA.end();
      await poolB.end();
    }
  });

  it("never lets a foreign key's ON DELETE action touch another table while moving rows out of the default partition", async () => {
    await createArtifactBomsTable(db);
    await db.query(`CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
      INSERT INTO scanner.artifact_boms VALUES ('dec-1', 'x', null, '2026-12-05 00:00:00+00'), ('nov-1', 'x', null, '2026-11-05 00:00:00+00')`);
    const findings = async (action: string, deferrable = ''): Promise<void> => {
      await db.query(`DROP TABLE IF EXISTS scanner.findings;
        CREATE TABLE scanner.findings (id int PRIMARY KEY, build_id text, inserted_at timestamptz,
          FOREIGN KEY (build_id, inserted_at) REFERENCES scanner.artifact_boms ON DELETE ${action} ${deferrable});
        INSERT INTO scanner.findings VALUES (1, 'dec-1', '2026-12-05 00:00:00+00'), (2, 'nov-1', '2026-11-05 00:00:00+00')`);
    };
    const rowsOfFindings = () => db.query('SELECT id, build_id FROM scanner.findings ORDER BY id');
    for (const [action, deferrable] of [['CASCADE'], ['SET NULL'], ['RESTRICT'], ['NO ACTION', 'DEFERRABLE INITIALLY DEFERRED']]) {
      await findings(action!, deferrable);
      const e = (await manager('2026-12-10T00:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrapErr();
      // The next month is still created.
      expect(e.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
      await db.query(
        'ALTER TABLE scanner.artifact_boms DETACH PARTITION scanner.artifact_boms_2027_01; DROP TABLE scanner.artifact_boms_2027_01',
      );
      expect([e.code, e.context.partition, e.context.constraint], action).toEqual([
        'TABLE_REFERENCED',
        'artifact_boms_2026_12',
        'findings_build_id_inserted_at_fkey',
      ]);
      expect(e.message).toContain(
        `scanner.findings references rows of [2026-12-01T00:00:00.000Z, 2027-01-01T00:00:00.000Z) in scanner.artifact_boms_default`,
      );
      expect(await rowsOfFindings()).toEqual([
        { id: 1, build_id: 'dec-1' },
        { id: 2, build_id: 'nov-1' },
      ]);
      expect(await rowHomes(db)).toEqual({ 'dec-1': 'scanner.artifact_boms_default', 'nov-1': 'scanner.artifact_boms_default' });
    }
    // Rows of the range that no row of the other table references move as before; that table is left alone.
    await findings('CASCADE');
    await db.query("DELETE FROM scanner.findings WHERE build_id = 'nov-1'");
    const nov = (await manager('2026-11-10T00:00:00Z').ensure({ ahead: 0 }))._unsafeUnwrap();
    expect(nov.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([['artifact_boms_2026_11', 1]]);
    expect(await rowsOfFindings()).toEqual([{ id: 1, build_id: 'dec-1' }]);
    expect(await rowHomes(db)).toEqual({ 'dec-1': 'scanner.artifact_boms_default', 'nov-1': 'scanner.artifact_boms_2026_11' });
  });

  it('moves rows stuck in the default partition instead of failing with "would be violated"', async () => {
    const m = manager('2026-11-15T00:00:00Z');
    await createWithDefault(m);
    await db.query(`INSERT INTO scanner.artifact_boms VALUES
      ('nov-1', 'x', '2026-11-01 00:00:00+00'), ('nov-2', 'x', '2026-11-30 23:59:59+00'),
      ('dec-1', 'x', '2026-12-24 00:00:00+00'), ('old', 'x', '2025-01-01 00:00:00+00')`);
    // The failure pg_partman users hit, reproduced with plain DDL as the oracle.
    await expect(
      db.query(
        `BEGIN; CREATE TABLE scanner.raw_nov PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00'); COMMIT`,
      ),
    ).rejects.toThrow(/would be violated/);
    await db.query('ROLLBACK').catch(() => undefined);
    const r = (await m.ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(r.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([
      ['artifact_boms_2026_11', 2],
      ['artifact_boms_2026_12', 1],
    ]);
    expect(await rowHomes(db)).toEqual({
      'dec-1': 'scanner.artifact_boms_2026_12',
      'nov-1': 'scanner.artifact_boms_2026_11',
      'nov-2': 'scanner.artifact_boms_2026_11',
      old: 'scanner.artifact_boms_default',
    });
    const idx = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'scanner' AND tablename = 'artifact_boms_2026_11'",
    );
    expect(idx[0]?.n).toBe(2);
  });

  it("a move out of the default partition that outlasts the role's statement_timeout holds up only its own slot", async () => {
    const m = manager('2026-11-15T00:00:00Z');
    await createWithDefault(m);
    // An index whose every entry takes 50 ms in the job's sessions (bk_test.slow): moving November's rows in takes
    // 10 s there, far over the job's statement_timeout, while the rest of the job fits in it on a busy machine too.
    await db.query(`CREATE FUNCTION scanner.slow(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN IF current_setting('bk_test.slow', true) = 'on' THEN PERFORM pg_sleep(0.05); END IF; RETURN t; END $$;
      CREATE INDEX slow_idx ON scanner.artifact_boms (scanner.slow(build_id));
      INSERT INTO scanner.artifact_boms SELECT 'nov-' || g, 'x', timestamptz '2026-11-01 00:00:00+00' + (g || ' minutes')::interval FROM generate_series(1, 200) g;`);
    // The job's role has a statement_timeout (ALTER ROLE … SET statement_timeout), as an application role often has.
    const pool = new pg.Pool({ connectionString: db.url, options: '-c statement_timeout=3000 -c bk_test.slow=on' });
    try {
      const e = (await manager('2026-11-15T00:00:00Z', { pg: pool }).ensure({ ahead: 2 }))._unsafeUnwrapErr();
      // Next month and the one after are made all the same: the daily job does not stop at November.
      expect(e.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2026_12', 'artifact_boms_2027_01']);
      // A database's refusal (exit 6), not the caller's abort (exit 130), saying what to change.
      expect([e.code, e.dbCode, e.context.partition]).toEqual(['DB_ERROR', '57014', 'artifact_boms_2026_11']);
      expect(e.message).toContain('statement_timeout');
      expect(e.message).toContain('artifact_boms_2026_11 was not created');
      // The advice is given once, not once by the classifier and again by ensure.
      expect(e.message.match(/ALTER ROLE/g)).toHaveLength(1);
    } finally {
      await pool.end();
    }
    const homes = await rowHomes(db);
    expect(Object.values(homes).every((h) => h === 'scanner.artifact_boms_default')).toBe(true);
    expect(Object.keys(homes)).toHaveLength(200);
  });

  it('returns LOCK_TIMEOUT quickly when the parent is busy, and changes nothing', async () => {
    await createArtifactBomsTable(db);
    // SHARE (a CREATE INDEX on the parent) conflicts with ATTACH's SHARE UPDATE EXCLUSIVE; readers and writers do not.
    const lock = await holdLock(db.url, 'ONLY scanner.artifact_boms', 'SHARE');
    try {
      // The lock is held until after the assertions: an ensure that waited for it would hit the test's timeout.
      const r = await manager('2026-11-23T00:00:00Z', { lockTimeoutMs: 200 }).ensure();
      expect(r.isErr() && r.error.code).toBe('LOCK_TIMEOUT');
      expect(r._unsafeUnwrapErr().dbCode).toBe('55P03');
      expect(r._unsafeUnwrapErr().context.partition).toBe('artifact_boms_2026_11');
      // It names the session in the way, so the operator knows whom to wait for (or end).
      const [holder] = await db.query<{ pid: number }>(
        "SELECT l.pid FROM pg_locks l WHERE l.relation = 'scanner.artifact_boms'::regclass AND l.granted AND l.mode = 'ShareLock'",
      );
      const message = r._unsafeUnwrapErr().message;
      expect(message).toContain(`pid ${holder!.pid}`);
      expect(message).toContain('ShareLock on scanner.artifact_boms');
      expect(message).toContain('pg_terminate_backend');
    } finally {
      await lock.release();
    }
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).size).toBe(0);
    // Nor a table made for a slot and left unattached: it went with the ATTACH that timed out.
    expect(await db.query("SELECT relname FROM pg_class WHERE relname LIKE 'artifact_boms_2%'")).toEqual([]);
    // The pooled session must not keep our lock_timeout.
    const [s] = await db.query<{ lock_timeout: string }>('SHOW lock_timeout');
    expect(s?.lock_timeout).toBe('0');
  });

  it('moves rows out of the default partition while a VACUUM holds an old partition (writers paused on the parent and the default only)', async () => {
    // Long enough that only the held lock, never a busy machine, could make it run out.
    const m = manager('2026-11-15T00:00:00Z', { lockTimeoutMs: 5000 });
    await createWithDefault(m);
    (await m.ensure({ behind: 2, ahead: 0 }))._unsafeUnwrap();
    await db.query(
      `INSERT INTO scanner.artifact_boms VALUES ('dec-1', 'x', '2026-12-24 00:00:00+00'), ('sep-1', 'x', '2026-09-02 00:00:00+00')`,
    );
    // SHARE UPDATE EXCLUSIVE is what a VACUUM (an anti-wraparound autovacuum of an old month, say) holds for its whole run.
    const vacuum = await holdLock(db.url, 'scanner.artifact_boms_2026_09', 'SHARE UPDATE EXCLUSIVE');
    try {
      const r = (await m.ensure({ ahead: 1 }))._unsafeUnwrap();
      expect(r.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([['artifact_boms_2026_12', 1]]);
    } finally {
      await vacuum.release();
    }
    expect(await rowHomes(db)).toEqual({ 'dec-1': 'scanner.artifact_boms_2026_12', 'sep-1': 'scanner.artifact_boms_2026_09' });
  });

  it('is not held up by a lock on an old partition it does not touch (a REINDEX, VACUUM FULL or CLUSTER of it)', async () => {
    await createArtifactBomsTable(db);
    (await manager('2026-11-23T00:00:00Z').ensure({ behind: 3 }))._unsafeUnwrap();
    await db.query(`CREATE TABLE scanner.artifact_boms_2025_10 PARTITION OF scanner.artifact_boms ${range('2025-10-01', '2025-11-01')}`);
    await db.query(
      "INSERT INTO scanner.artifact_boms VALUES ('a', 'sha', null, '2026-08-02 00:00:00+00'), ('b', 'sha', null, '2025-10-02 00:00:00+00')",
    );
    const lock = await holdLock(db.url, 'scanner.artifact_boms_2026_08', 'ACCESS EXCLUSIVE');
    try {
      // Long enough that only the held lock, never a busy machine, could make it run out.
      const next = (extra = {}) => manager('2026-12-02T00:00:00Z', { lockTimeoutMs: 5000, ...extra });
      const r = (await next().ensure({ ahead: 1 }))._unsafeUnwrap();
      expect(r.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
      // Retention (dry run and real) sizes only its candidates, and drops the expired month beside the locked one.
      const plan = (await next().retention({ keep: 12 }))._unsafeUnwrap();
      expect(plan.candidates.map((c) => c.name)).toEqual(['artifact_boms_2025_10']);
      expect(plan.candidates[0]!.sizeBytes).toBeGreaterThan(0);
      const real = (await next().retention({ keep: 12, dryRun: false }))._unsafeUnwrap();
      expect(real.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_10', true]]);
      // Retention that must drop the locked partition itself still says LOCK_TIMEOUT, naming it.
      const stuck = (await next({ lockTimeoutMs: 200 }).retention({ keep: 3, dryRun: false }))._unsafeUnwrapErr();
      expect(stuck.code).toBe('LOCK_TIMEOUT');
      expect(stuck.context.partition).toBe('artifact_boms_2026_08');
    } finally {
      await lock.release();
    }
    expect(await rowHomes(db)).toEqual({ a: 'scanner.artifact_boms_2026_08' });
  });

  it.for<[string, string | undefined]>([
    ['', undefined],
    // A role's statement_timeout shorter than the wait: the run still waits its advisoryLockTimeoutMs, then says LOCKED.
    [", under a role's shorter statement_timeout", '-c statement_timeout=1000'],
  ])('reports a second run holding the advisory lock as LOCKED%s', async ([, options]) => {
    await createArtifactBomsTable(db);
    const pool = new pg.Pool({ connectionString: db.url, ...(options === undefined ? {} : { options }) });
    const m = manager('2026-11-23T00:00:00Z', { pg: pool, advisoryLockTimeoutMs: 3000 });
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    let ended: Promise<void> | undefined;
    const release = (): Promise<void> => (ended ??= other.end());
    try {
      // Take the same advisory lock a concurrent ensure would hold.
      const { advisoryKey } = await import('../../../src/partitions/ddl.js');
      await other.query(`SELECT pg_advisory_lock(${advisoryKey({ schema: 'scanner', name: 'artifact_boms', sql: '' })})`);
      const t0 = Date.now();
      const r = await m.ensure();
      expect(r.isErr() && r.error.code).toBe('LOCKED');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2900);
      // It names the session in the way, and how to end it if its run's process is gone (a killed cron run).
      const holder = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const e = r._unsafeUnwrapErr();
      expect(e.message).toContain(`It is pid ${holder} (`);
      expect(e.message).toContain(`SELECT pg_terminate_backend(${holder})`);
      expect(e.context['holder']).toBe(holder);
      await release();
      // Once the lock is free a run goes ahead (on the default pool: the DDL itself may outlast a 1 s timeout on a loaded machine).
      expect((await manager('2026-11-23T00:00:00Z').ensure())._unsafeUnwrap().created).toHaveLength(2);
      // The role's own statement_timeout is the session's again.
      if (options !== undefined) expect((await pool.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '1s' });
    } finally {
      await release();
      await pool.end();
    }
  });

  it('refuses a slot that partly overlaps a foreign partition, after creating every other slot', async () => {
    await createArtifactBomsTable(db);
    await db.query(`CREATE TABLE scanner.artifact_boms_q4 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-10-01 00:00:00+00') TO ('2027-01-01 00:00:00+00');
      CREATE TABLE scanner.artifact_boms_odd PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2027-02-15 00:00:00+00') TO ('2027-03-15 00:00:00+00');`);
    const covered = (await manager('2026-11-23T00:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(covered.created).toEqual([]);
    expect(covered.existing.map((e) => e.coveredBy)).toEqual(['artifact_boms_q4', 'artifact_boms_q4']);
    const r = await manager('2026-11-23T00:00:00Z').ensure({ ahead: 4 });
    const error = r._unsafeUnwrapErr();
    expect([error.code, error.context]).toEqual([
      'PARTITION_OVERLAP',
      { partition: 'artifact_boms_2027_02', overlaps: 'artifact_boms_odd' },
    ]);
    expect(error.message).toContain('artifact_boms_2027_02 [2027-02-01T00:00:00.000Z, 2027-03-01T00:00:00.000Z) overlaps partition');
    expect(error.message).toContain('artifact_boms_2027_03 [2027-03-01T00:00:00.000Z, 2027-04-01T00:00:00.000Z) overlaps partition');
    expect(error.message).toContain('every other slot of scanner.artifact_boms was created (1 new)');
    expect(error.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()].sort()).toEqual([
      'artifact_boms_2027_01',
      'artifact_boms_odd',
      'artifact_boms_q4',
    ]);
  });
});

describe('names that differ only by case', () => {
  it('never creates a look-alike of the table beside it, and says which table an unquoted name means', async () => {
    await createArtifactBomsTable(db);
    const twin = manager('2026-11-15T00:00:00Z', { table: 'Scanner.Artifact_Boms' });
    const created = (await twin.createParent({ columns: [{ name: 'inserted_at', type: 'timestamptz' }] }))._unsafeUnwrapErr();
    expect([created.code, created.message]).toEqual([
      'INVALID_ARGUMENT',
      expect.stringContaining('Scanner.Artifact_Boms differs from the existing scanner.artifact_boms only by case; nothing was created.'),
    ]);
    expect(await db.query("SELECT nspname FROM pg_namespace WHERE nspname = 'Scanner'")).toEqual([]);
    const ensured = (await twin.ensure())._unsafeUnwrapErr();
    expect([ensured.code, ensured.message]).toEqual([
      'TABLE_NOT_FOUND',
      expect.stringContaining('Scanner.Artifact_Boms does not exist. scanner.artifact_boms does: did you mean it?'),
    ]);
  });
});

describe('partitions made by hand with unbounded bounds', () => {
  const handMade = (name: string, bounds: string, table = 'artifact_boms'): Promise<unknown> =>
    db.query(`CREATE TABLE scanner.${name} PARTITION OF scanner.${table} FOR VALUES ${bounds}`);
  const created = async (now: string, ahead: number, extra: Partial<ConstructorParameters<typeof PartitionManager>[0]> = {}) =>
    (await manager(now, extra).ensure({ ahead }))._unsafeUnwrap().created.map((c) => c.name);

  it('counts a slot under FROM (MINVALUE) as existing, and the daily ensure goes on creating the months after it', async () => {
    await createArtifactBomsTable(db);
    await handMade('artifact_boms_history', "FROM (MINVALUE) TO ('2027-01-01 00:00:00+00')");
    const r = (await manager('2026-12-15T10:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(r.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
    expect(r.existing.map((e) => [e.name, e.coveredBy])).toEqual([['artifact_boms_2026_12', 'artifact_boms_history']]);
    // The next days, and the next months, as a daily job sees them.
    expect(await created('2026-12-16T10:00:00Z', 1)).toEqual([]);
    expect(await created('2027-01-15T10:00:00Z', 1)).toEqual(['artifact_boms_2027_02']);
    expect(await created('2027-03-02T10:00:00Z', 1)).toEqual(['artifact_boms_2027_03', 'artifact_boms_2027_04']);
    const history = (await manager('2027-03-02T10:00:00Z').list())._unsafeUnwrap().find((p) => p.name === 'artifact_boms_history');
    expect(history).toMatchObject({ from: null, to: new Date('2027-01-01T00:00:00Z'), managed: false });
  });

  it("counts a slot under FROM ('-infinity') as existing on a date key", async () => {
    await db.query('CREATE SCHEMA scanner; CREATE TABLE scanner.d (k date NOT NULL) PARTITION BY RANGE (k)');
    await handMade('d_history', "FROM ('-infinity') TO ('2026-12-02')", 'd');
    const day = { table: 'scanner.d', column: 'k', interval: 'day' } as const;
    const r = (await manager('2026-12-01T10:00:00Z', day).ensure({ ahead: 2 }))._unsafeUnwrap();
    expect(r.created.map((c) => c.name)).toEqual(['d_2026_12_02', 'd_2026_12_03']);
    expect(r.existing.map((e) => [e.name, e.coveredBy])).toEqual([['d_2026_12_01', 'd_history']]);
    expect(await created('2026-12-03T10:00:00Z', 2, day)).toEqual(['d_2026_12_04', 'd_2026_12_05']);
  });

  it("counts every slot under TO ('infinity') or TO (MAXVALUE) as existing", async () => {
    await createArtifactBomsTable(db);
    await handMade('artifact_boms_open', "FROM ('2026-12-01 00:00:00+00') TO ('infinity')");
    const r = (await manager('2026-12-15T10:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(r.created).toEqual([]);
    expect(r.existing.map((e) => e.coveredBy)).toEqual(['artifact_boms_open', 'artifact_boms_open']);
    expect(await created('2031-06-15T10:00:00Z', 3)).toEqual([]);
    await createArtifactBomsTable(db, 'w');
    await handMade('w_all', 'FROM (MINVALUE) TO (MAXVALUE)', 'w');
    expect(await created('2026-12-15T10:00:00Z', 3, { table: 'scanner.w' })).toEqual([]);
  });

  it('refuses a window slot partly under TO (MAXVALUE) with PARTITION_OVERLAP, and still creates the current month', async () => {
    await createArtifactBomsTable(db);
    await handMade('artifact_boms_future', "FROM ('2027-01-15 00:00:00+00') TO (MAXVALUE)");
    const r = await manager('2026-12-15T10:00:00Z').ensure({ ahead: 1 });
    const error = r._unsafeUnwrapErr();
    expect(error.code).toBe('PARTITION_OVERLAP');
    expect(error.message).toContain('artifact_boms_2027_01 [2027-01-01T00:00:00.000Z, 2027-02-01T00:00:00.000Z) overlaps partition');
    expect(error.message).toContain('scanner.artifact_boms_future');
    expect(error.message).toContain('Detach or drop artifact_boms_future first');
    expect(error.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2026_12']);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()].sort()).toEqual([
      'artifact_boms_2026_12',
      'artifact_boms_future',
    ]);
    expect(await created('2026-12-15T10:00:00Z', 0)).toEqual([]);
  });

  it("refuses a window slot partly under FROM (MINVALUE) or TO ('infinity') with PARTITION_OVERLAP", async () => {
    await createArtifactBomsTable(db);
    await handMade('artifact_boms_history', "FROM (MINVALUE) TO ('2026-12-10 00:00:00+00')");
    const early = (await manager('2026-12-15T10:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrapErr();
    expect([early.code, early.context]).toEqual([
      'PARTITION_OVERLAP',
      { partition: 'artifact_boms_2026_12', overlaps: 'artifact_boms_history' },
    ]);
    await createArtifactBomsTable(db, 'w');
    await handMade('w_open', "FROM ('2027-01-10 00:00:00+00') TO ('infinity')", 'w');
    const late = (await manager('2026-12-15T10:00:00Z', { table: 'scanner.w' }).ensure({ ahead: 1 }))._unsafeUnwrapErr();
    expect([late.code, late.context]).toEqual(['PARTITION_OVERLAP', { partition: 'w_2027_01', overlaps: 'w_open' }]);
    expect(early.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
    expect(late.partial?.created.map((c) => c.name)).toEqual(['w_2026_12']);
    expect([...(await catalogBounds(db, 'scanner', 'w')).keys()].sort()).toEqual(['w_2026_12', 'w_open']);
  });

  it("creates every slot between partitions FROM ('-infinity') and FROM ('infinity') TO (MAXVALUE), beside the default partition", async () => {
    await createArtifactBomsTable(db);
    await handMade('artifact_boms_before', "FROM ('-infinity') TO ('2000-01-01 00:00:00+00')");
    await handMade('artifact_boms_after', "FROM ('infinity') TO (MAXVALUE)");
    await db.query('CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT');
    await db.query(`INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES
      ('never', 'x', '-infinity'), ('forever', 'x', 'infinity'), ('dec', 'x', '2026-12-24 00:00:00+00')`);
    const r = (await manager('2026-12-15T10:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(r.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([
      ['artifact_boms_2026_12', 1],
      ['artifact_boms_2027_01', 0],
    ]);
    expect(await rowHomes(db)).toEqual({
      dec: 'scanner.artifact_boms_2026_12',
      forever: 'scanner.artifact_boms_after',
      never: 'scanner.artifact_boms_before',
    });
  });
});

describe('config and table checks', () => {
  it('rejects hostile identifiers without running SQL', async () => {
    await createArtifactBomsTable(db);
    const hostile = [
      { table: 'scanner.artifact_boms"; DROP TABLE scanner.artifact_boms; --', column: 'inserted_at' },
      { table: 'scanner.artifact_boms', column: 'inserted_at) ; DROP TABLE scanner.artifact_boms; --' },
      { table: "scanner.artifact_boms'", column: 'inserted_at' },
      { table: 'a.b.c', column: 'inserted_at' },
      { table: `scanner.${'x'.repeat(60)}`, column: 'inserted_at' },
    ];
    for (const h of hostile) {
      const m = new PartitionManager({ pg: db.pool, ...h });
      for (const r of [
        await m.ensure(),
        await m.list(),
        await m.retention({ dryRun: false }),
        await m.attach('artifact_boms_2026_01'),
        await m.maintain('artifact_boms_2026_01'),
      ]) {
        expect(r.isErr() && r.error.code, JSON.stringify(h)).toBe('INVALID_IDENTIFIER');
      }
    }
    const m = manager('2026-11-23T00:00:00Z');
    expect((await m.attach('artifact_boms_2026_01; DROP TABLE scanner.artifact_boms'))._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
    expect((await m.maintain('scanner.artifact_boms_2026_11"--'))._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
    expect((await db.query("SELECT to_regclass('scanner.artifact_boms') IS NOT NULL AS ok"))[0]).toEqual({ ok: true });
  });

  it('refuses a clock that gives no valid instant, instead of a daily job that quietly creates and drops nothing', async () => {
    await createArtifactBomsTable(db);
    // new Date(process.env.NOW) with NOW unset; a clock function that returns garbage.
    for (const now of [new Date('not a date'), () => new Date(Number.NaN), () => '2026-11-23' as unknown as Date]) {
      const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now });
      for (const r of [await m.ensure(), await m.retention({ dryRun: false })]) {
        const e = r._unsafeUnwrapErr();
        expect(e.code).toBe('INVALID_ARGUMENT');
        expect(e.message).toContain('now');
      }
    }
    expect(await catalogBounds(db, 'scanner', 'artifact_boms')).toEqual(new Map());
  });

  it('quotes legal but unusual names (upper case, $)', async () => {
    const m = new PartitionManager({ pg: db.pool, table: 'scanner.Boms$Hot', column: 'At', now: new Date('2026-11-23T00:00:00Z') });
    (await m.createParent({ columns: [{ name: 'At', type: 'timestamptz', notNull: true }] }))._unsafeUnwrap();
    expect((await m.ensure())._unsafeUnwrap().created.map((c) => c.name)).toEqual(['Boms$Hot_2026_11', 'Boms$Hot_2026_12']);
    expect((await m.list())._unsafeUnwrap().every((p) => p.managed)).toBe(true);
  });

  it('says which table is missing or not partitioned the right way', async () => {
    await db.query(`CREATE SCHEMA scanner;
      CREATE TABLE scanner.plain (at timestamptz);
      CREATE TABLE scanner.listed (at timestamptz, kind text) PARTITION BY LIST (kind);
      CREATE TABLE scanner.other_key (at timestamptz, b timestamptz) PARTITION BY RANGE (b);
      CREATE TABLE scanner.int_key (at int) PARTITION BY RANGE (at);`);
    const code = async (table: string): Promise<string> =>
      (await new PartitionManager({ pg: db.pool, table, column: 'at' }).ensure())._unsafeUnwrapErr().code;
    expect(await code('scanner.nope')).toBe('TABLE_NOT_FOUND');
    expect(await code('scanner.plain')).toBe('TABLE_NOT_PARTITIONED');
    expect(await code('scanner.listed')).toBe('TABLE_NOT_PARTITIONED');
    expect(await code('scanner.other_key')).toBe('TABLE_NOT_PARTITIONED');
    expect(await code('scanner.int_key')).toBe('TABLE_NOT_PARTITIONED');
    // What a careless run is told: the table it likely meant, and what the table is partitioned by.
    const message = async (table: string): Promise<string> =>
      (await new PartitionManager({ pg: db.pool, table, column: 'at' }).ensure())._unsafeUnwrapErr().message;
    expect(await message('other_key')).toBe(
      'public.other_key does not exist. scanner.other_key does: name its schema (a table named without one is in public).',
    );
    expect(await message('scanner.listed')).toBe(
      'scanner.listed is partitioned by list, not by range: only range partitions on one date or time column are managed.',
    );
    expect(await message('scanner.other_key')).toBe('scanner.other_key is range-partitioned on b, not on at: name b as its column.');
    expect(await message('scanner.plain')).toBe('scanner.plain is not a partitioned table.');
    await db.query(`CREATE TABLE scanner.other_key_2026 PARTITION OF scanner.other_key FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`);
    expect(await message('scanner.other_key_2026')).toBe(
      'scanner.other_key_2026 is a partition of scanner.other_key, not a partitioned table: name its parent, scanner.other_key.',
    );
    const bad = await new PartitionManager({ pg: db.pool, table: 'scanner.plain', column: 'at' }).ensure({ ahead: -1 });
    expect(bad._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    const quarter = new PartitionManager({ pg: db.pool, table: 'scanner.plain', column: 'at', interval: 'quarter' as 'month' });
    expect((await quarter.list())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    const noWait = new PartitionManager({ pg: db.pool, table: 'scanner.plain', column: 'at', lockTimeoutMs: 0 });
    expect((await noWait.ensure())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });

  it('createParent refuses SQL smuggled through types and keys', async () => {
    const m = manager('2026-11-23T00:00:00Z');
    const cols = (type: string) => [
      { name: 'inserted_at', type: 'timestamptz' },
      { name: 'x', type },
    ];
    expect((await m.createParent({ columns: cols('text); DROP TABLE pg_class; --') }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await m.createParent({ columns: cols("text DEFAULT 'a'") }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(
      (
        await m.createParent({
          columns: [
            { name: 'x"y', type: 'text' },
            { name: 'inserted_at', type: 'timestamptz' },
          ],
        })
      )._unsafeUnwrapErr().code,
    ).toBe('INVALID_IDENTIFIER');
    expect((await m.createParent({ columns: cols('text'), primaryKey: ['x'] }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await m.createParent({ columns: cols('text'), indexes: [{ columns: ['nope'] }] }))._unsafeUnwrapErr().code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await m.createParent({ columns: [{ name: 'x', type: 'text' }] }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(await db.query("SELECT to_regnamespace('scanner') AS s")).toEqual([{ s: null }]);
    (
      await m.createParent({ columns: cols('varchar(64)'), primaryKey: ['x', 'inserted_at'], indexes: [{ columns: ['x'], unique: false }] })
    )._unsafeUnwrap();
    expect((await m.ensure({ ahead: 0 }))._unsafeUnwrap().created).toHaveLength(1);
  });

  it('stops at an aborted signal with ABORTED and creates nothing more', async () => {
    await createArtifactBomsTable(db);
    const ac = new AbortController();
    const seen: string[] = [];
    const r = await manager('2026-11-23T00:00:00Z').ensure({
      ahead: 30,
      batchSize: 5,
      signal: ac.signal,
      onProgress: (p) => {
        seen.push(p.partition);
        ac.abort();
      },
    });
    expect(r._unsafeUnwrapErr().code).toBe('ABORTED');
    expect(r._unsafeUnwrapErr().partial?.created).toHaveLength(5);
    expect(seen).toEqual(['artifact_boms_2027_03']);
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).size).toBe(5);
  });

  it('turns an unreachable server into DB_CONNECTION', async () => {
    const m = new PartitionManager({ pg: 'postgres://nobody@127.0.0.1:1/none', table: 'scanner.artifact_boms', column: 'inserted_at' });
    expect((await m.ensure())._unsafeUnwrapErr().code).toBe('DB_CONNECTION');
    await m.close();
  });
});

describe('ensure against a wrong host clock', () => {
  it.for([
    ['a year fast', 365 * 86_400_000],
    ['a year slow', -365 * 86_400_000],
  ] as const)('refuses with CLOCK_SKEW and creates nothing when the host clock is %s', async ([, offset]) => {
    await createArtifactBomsTable(db);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + offset });
    try {
      const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at' });
      const e = (await m.ensure({ ahead: 1 }))._unsafeUnwrapErr();
      expect(e.code).toBe('CLOCK_SKEW');
      expect(e.message).toContain('creates the wrong ones');
      expect(e.partial).toBeUndefined();
      // A now given on purpose (a back-dated run) is not compared.
      const given = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: new Date() });
      vi.useRealTimers();
      expect(await catalogBounds(db, 'scanner', 'artifact_boms')).toEqual(new Map());
      expect((await given.ensure({ ahead: 0 }))._unsafeUnwrap().created).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('goes on with a warning when the clocks differ but are in the same interval: the window is the same', async (ctx) => {
    await createArtifactBomsTable(db);
    // Ten minutes fast, but in the same year as the database's clock (this test's interval), unless run at New Year.
    const offset = 600_000;
    const year = (t: number): number => new Date(t).getUTCFullYear();
    if (year(Date.now()) !== year(Date.now() + offset + 60_000))
      return ctx.skip('skipped: run within minutes of New Year, where the two clocks are in different years');
    const warnings: string[] = [];
    const logger = {
      info() {},
      error() {},
      warn: (m: string, f?: Record<string, unknown>) => warnings.push(`${m}: ${String(f?.['reason'])}`),
    };
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + offset });
    try {
      const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', interval: 'year', logger });
      const r = (await m.ensure({ ahead: 0 }))._unsafeUnwrap();
      expect(r.created.map((c) => c.name)).toEqual([`artifact_boms_${year(Date.now())}`]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('same year');
      // Retention, which drops, refuses at that skew all the same.
      expect((await m.retention({ keep: 1 }))._unsafeUnwrapErr().code).toBe('CLOCK_SKEW');
    } finally {
      vi.useRealTimers();
    }
  });
});
