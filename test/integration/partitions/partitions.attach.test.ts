import { beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { advisoryKey } from '../../../src/partitions/ddl.js';
import { catalogBounds, holdLock, rowHomes, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const NOW = new Date('2026-11-15T00:00:00Z');
const manager = (source: pg.Pool | pg.Client = db.pool): PartitionManager =>
  new PartitionManager({ pg: source, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW });

/** A table as a backup restore leaves it: the rows, no partition link and no indexes. */
async function restoreFromBackup(name: string, rows: [string, string][]): Promise<void> {
  await db.query(
    `CREATE TABLE scanner.${name} (build_id text NOT NULL, canonical_bom_sha256 text NOT NULL, payload_digest text, inserted_at timestamptz NOT NULL)`,
  );
  for (const [id, at] of rows) await db.query(`INSERT INTO scanner.${name} VALUES ($1, 'sha', null, $2)`, [id, at]);
}

/** A logger that keeps each warning (message and fields) and drops the rest. */
function collectWarnings(): {
  warnings: [string, Record<string, unknown> | undefined][];
  logger: { info(): void; warn(m: string, f?: Record<string, unknown>): void; error(): void };
} {
  const warnings: [string, Record<string, unknown> | undefined][] = [];
  return {
    warnings,
    logger: { info: () => undefined, warn: (m, f) => void warnings.push([m, f]), error: () => undefined },
  };
}

beforeEach(async () => {
  (await manager().ensure({ behind: 2 }))._unsafeUnwrap();
});

/** A second session holding the per-table lock an `ensure` or `retention` run holds while it works. */
async function holdRunLock(): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query(`SELECT pg_advisory_lock(${advisoryKey({ schema: 'scanner', name: 'artifact_boms', sql: '' })})`);
  let ended: Promise<void> | undefined;
  return { release: () => (ended ??= c.end()) };
}

/**
 * `true` once `n` sessions of this database wait for an advisory lock (PostgreSQL's own word, from pg_locks),
 * `false` if `calls` settle first: the calls did not queue behind the lock.
 */
async function queuedBehindLock(n: number, calls: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void calls.finally(() => (settled = true));
  while (!settled) {
    const [row] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
       WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()`,
    );
    if ((row?.n ?? 0) >= n) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

describe('attach', () => {
  it('re-attaches a restored partition, skipping the validation scan, and builds the missing indexes', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [
      ['r1', '2025-03-01 00:00:00+00'],
      ['r2', '2025-03-31 23:59:59+00'],
    ]);
    // DEBUG1 notices are PostgreSQL's own word on whether ATTACH scanned the table.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(n.message ?? ''));
    await client.query('SET client_min_messages = debug1');
    try {
      const r = (await manager(client).attach('artifact_boms_2025_03'))._unsafeUnwrap();
      expect(r.name).toBe('artifact_boms_2025_03');
      expect(r.alreadyAttached).toBe(false);
      expect(r.indexesCreated).toHaveLength(3);
    } finally {
      await client.end();
    }
    expect(notices.some((m) => /partition constraint for table "artifact_boms_2025_03" is implied by existing constraints/.test(m))).toBe(
      true,
    );
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).get('artifact_boms_2025_03')).toBe(
      "FOR VALUES FROM ('2025-03-01 00:00:00+00') TO ('2025-04-01 00:00:00+00')",
    );
    expect(await rowHomes(db)).toEqual({ r1: 'scanner.artifact_boms_2025_03', r2: 'scanner.artifact_boms_2025_03' });
    const checks = await db.query(
      "SELECT conname FROM pg_constraint WHERE conrelid = 'scanner.artifact_boms_2025_03'::regclass AND contype = 'c'",
    );
    expect(checks).toEqual([]);
    // Attaching again is a no-op.
    expect((await manager().attach('scanner.artifact_boms_2025_03'))._unsafeUnwrap().alreadyAttached).toBe(true);
  });

  it('refuses a table holding an out-of-range row, naming its key, and changes nothing', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [
      ['ok-1', '2025-03-10 00:00:00+00'],
      ['stray-42', '2025-04-01 00:00:00+00'],
    ]);
    await db.query('ALTER TABLE scanner.artifact_boms_2025_03 ADD PRIMARY KEY (build_id, inserted_at)');
    const r = await manager().attach('artifact_boms_2025_03');
    const e = r._unsafeUnwrapErr();
    expect(e.code).toBe('PARTITION_OUT_OF_RANGE');
    expect(e.message).toContain('build_id=stray-42');
    expect(e.context.id).toContain('stray-42');
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2025_03')).toBe(false);
    expect(
      await db.query("SELECT conname FROM pg_constraint WHERE conrelid = 'scanner.artifact_boms_2025_03'::regclass AND contype = 'c'"),
    ).toEqual([]);
  });

  it('moves rows for its range out of the default partition', async () => {
    await db.query('CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT');
    await db.query(
      "INSERT INTO scanner.artifact_boms VALUES ('late', 'sha', null, '2025-03-15 00:00:00+00'), ('older', 'sha', null, '2024-01-01 00:00:00+00')",
    );
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    const r = (await manager().attach('artifact_boms_2025_03'))._unsafeUnwrap();
    expect(r.rowsMovedFromDefault).toBe(1);
    expect(await rowHomes(db)).toEqual({
      late: 'scanner.artifact_boms_2025_03',
      older: 'scanner.artifact_boms_default',
      r1: 'scanner.artifact_boms_2025_03',
    });
  });

  it("refuses to move rows out of the default partition that another table's ON DELETE CASCADE key references", async () => {
    await db.query('CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT');
    await db.query("INSERT INTO scanner.artifact_boms VALUES ('late', 'sha', null, '2025-03-15 00:00:00+00')");
    await db.query(`CREATE TABLE scanner.findings (id int PRIMARY KEY, build_id text, inserted_at timestamptz,
      FOREIGN KEY (build_id, inserted_at) REFERENCES scanner.artifact_boms ON DELETE CASCADE);
      INSERT INTO scanner.findings VALUES (1, 'late', '2025-03-15 00:00:00+00')`);
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    const e = (await manager().attach('artifact_boms_2025_03'))._unsafeUnwrapErr();
    expect([e.code, e.context.constraint]).toEqual(['TABLE_REFERENCED', 'findings_build_id_inserted_at_fkey']);
    expect(await db.query('SELECT id FROM scanner.findings')).toEqual([{ id: 1 }]);
    expect(await rowHomes(db)).toEqual({ late: 'scanner.artifact_boms_default' });
    expect(
      await db.query(
        "SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'scanner.artifact_boms_2025_03'::regclass AND contype = 'c'",
      ),
    ).toEqual([{ n: 0 }]);
  });

  it('times out on a busy parent and leaves the restored table as it was', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    // ATTACH needs SHARE UPDATE EXCLUSIVE on the parent; an open SHARE UPDATE EXCLUSIVE holder blocks it.
    const lock = await holdLock(db.url, 'scanner.artifact_boms', 'SHARE UPDATE EXCLUSIVE');
    try {
      const r = await new PartitionManager({
        pg: db.pool,
        table: 'scanner.artifact_boms',
        column: 'inserted_at',
        now: NOW,
        lockTimeoutMs: 150,
      }).attach('artifact_boms_2025_03');
      expect(r._unsafeUnwrapErr().code).toBe('LOCK_TIMEOUT');
    } finally {
      await lock.release();
    }
    expect(
      await db.query("SELECT conname FROM pg_constraint WHERE conrelid = 'scanner.artifact_boms_2025_03'::regclass AND contype = 'c'"),
    ).toEqual([]);
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2025_03')).toBe(false);
  });

  it('times out, naming the table, while a restore still holds the restored table, and keeps no lock the daily jobs wait for', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    // A restore in one transaction (pg_restore --single-transaction) holds the table it made until it commits.
    const lock = await holdLock(db.url, 'scanner.artifact_boms_2025_03', 'ACCESS EXCLUSIVE');
    try {
      const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW, lockTimeoutMs: 150 });
      const r = await Promise.race([
        m.attach('artifact_boms_2025_03'),
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000)),
      ]);
      expect(r).not.toBe('hung');
      if (r === 'hung') return;
      expect(r._unsafeUnwrapErr().code).toBe('LOCK_TIMEOUT');
      expect(r._unsafeUnwrapErr().message).toContain('artifact_boms_2025_03');
      // The per-table lock is free again: the nightly ensure runs.
      expect((await m.ensure()).isOk()).toBe(true);
    } finally {
      await lock.release();
    }
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2025_03')).toBe(false);
  });

  it('waits for the lock a running ensure or retention holds, then attaches', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    const run = await holdRunLock();
    try {
      const pending = manager().attach('artifact_boms_2025_03');
      // Attach must queue behind the run, not go ahead beside it.
      expect(await queuedBehindLock(1, Promise.resolve(pending))).toBe(true);
      expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2025_03')).toBe(false);
      await run.release();
      const r = (await pending)._unsafeUnwrap();
      expect(r.alreadyAttached).toBe(false);
    } finally {
      await run.release();
    }
    expect(await rowHomes(db)).toEqual({ r1: 'scanner.artifact_boms_2025_03' });
  });

  it('reports the lock held past advisoryLockTimeoutMs as LOCKED, changing nothing, and attaches once it is free', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    const m = new PartitionManager({
      pg: db.pool,
      table: 'scanner.artifact_boms',
      column: 'inserted_at',
      now: NOW,
      advisoryLockTimeoutMs: 200,
    });
    const run = await holdRunLock();
    try {
      const e = (await m.attach('artifact_boms_2025_03'))._unsafeUnwrapErr();
      expect([e.code, e.context.table]).toEqual(['LOCKED', 'scanner.artifact_boms']);
      expect(e.message).toContain('try again later');
    } finally {
      await run.release();
    }
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2025_03')).toBe(false);
    expect(
      await db.query("SELECT conname FROM pg_constraint WHERE conrelid = 'scanner.artifact_boms_2025_03'::regclass AND contype = 'c'"),
    ).toEqual([]);
    expect((await m.attach('artifact_boms_2025_03'))._unsafeUnwrap().alreadyAttached).toBe(false);
  });

  it('two attaches of the same table queue: one attaches, the other finds it attached', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    const run = await holdRunLock();
    try {
      const both = Promise.all([manager().attach('artifact_boms_2025_03'), manager().attach('artifact_boms_2025_03')]);
      expect(await queuedBehindLock(2, both)).toBe(true);
      await run.release();
      const results = (await both).map((r) => r._unsafeUnwrap().alreadyAttached);
      expect(results.sort()).toEqual([false, true]);
    } finally {
      await run.release();
    }
  });

  it('a restored month older than the retention window goes again on the next retention run, unless renamed off the naming rule', async () => {
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    (await manager().attach('artifact_boms_2025_03'))._unsafeUnwrap();
    const nightly = async () => (await manager().retention({ keep: 12, dryRun: false }))._unsafeUnwrap();
    const first = await nightly();
    expect(first.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_03', true]]);
    expect(await db.query("SELECT to_regclass('scanner.artifact_boms_2025_03') AS t")).toEqual([{ t: null }]);
    expect(await rowHomes(db)).toEqual({});

    // What the README says to do instead: rename it after the attach, and retention lists it as ignored.
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    (await manager().attach('artifact_boms_2025_03'))._unsafeUnwrap();
    await db.query('ALTER TABLE scanner.artifact_boms_2025_03 RENAME TO artifact_boms_2025_03_restored');
    const second = await nightly();
    expect(second.candidates).toEqual([]);
    expect(second.ignored.map((i) => i.name)).toEqual(['artifact_boms_2025_03_restored']);
    expect(await rowHomes(db)).toEqual({ r1: 'scanner.artifact_boms_2025_03_restored' });
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).get('artifact_boms_2025_03_restored')).toBe(
      "FOR VALUES FROM ('2025-03-01 00:00:00+00') TO ('2025-04-01 00:00:00+00')",
    );
    // ensure counts its slot as covered, and does not make another.
    const ensured = (await manager().ensure({ behind: 24 }))._unsafeUnwrap();
    expect(ensured.existing.find((e) => e.name === 'artifact_boms_2025_03')?.coveredBy).toBe('artifact_boms_2025_03_restored');
    expect(ensured.created.map((c) => c.name)).not.toContain('artifact_boms_2025_03');
  });

  it('warns when the attached range is one a retention run can drop again, saying which keep drops it and what to do', async () => {
    const { warnings, logger } = collectWarnings();
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    await restoreFromBackup('artifact_boms_2027_05', []);
    // 2025-03 ends 2025-04-01, 19 months before the current month (2026-11): keep 19 or less drops it.
    (await manager().attach('artifact_boms_2025_03', { logger }))._unsafeUnwrap();
    expect(warnings).toHaveLength(1);
    const [message, fields] = warnings[0]!;
    expect(message).toContain('keep 19 or less');
    expect(message).toContain('ALTER TABLE "scanner"."artifact_boms_2025_03" RENAME TO "artifact_boms_2025_03_restored"');
    expect(fields).toMatchObject({ partition: 'artifact_boms_2025_03', droppedByKeepUpTo: 19 });
    // The claim holds against retention itself: keep 19 takes it, keep 20 does not.
    const plan = async (keep: number) => (await manager().retention({ keep }))._unsafeUnwrap().candidates.map((c) => c.name);
    expect(await plan(19)).toContain('artifact_boms_2025_03');
    expect(await plan(20)).not.toContain('artifact_boms_2025_03');
    // A month no retention run can take is attached without a warning.
    (await manager().attach('artifact_boms_2027_05', { logger }))._unsafeUnwrap();
    expect(warnings).toHaveLength(1);
  });

  it('warns again when the restored month is already attached (a second attach, or one attached by hand)', async () => {
    const { warnings, logger } = collectWarnings();
    await restoreFromBackup('artifact_boms_2025_03', [['r1', '2025-03-02 00:00:00+00']]);
    (await manager().attach('artifact_boms_2025_03', { logger }))._unsafeUnwrap();
    expect(warnings).toHaveLength(1);
    // The operator runs the rollback step again: the month is still one retention drops, and they must hear it.
    const again = (await manager().attach('artifact_boms_2025_03', { logger }))._unsafeUnwrap();
    expect(again.alreadyAttached).toBe(true);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]![0]).toContain('keep 19 or less');
    expect(warnings[1]![1]).toMatchObject({ partition: 'artifact_boms_2025_03', droppedByKeepUpTo: 19 });
    // Attached by hand with the library's bounds: same warning from attach.
    await restoreFromBackup('artifact_boms_2025_04', []);
    await db.query(
      "ALTER TABLE scanner.artifact_boms ATTACH PARTITION scanner.artifact_boms_2025_04 FOR VALUES FROM ('2025-04-01 00:00:00+00') TO ('2025-05-01 00:00:00+00')",
    );
    const byHand = (await manager().attach('artifact_boms_2025_04', { logger }))._unsafeUnwrap();
    expect(byHand.alreadyAttached).toBe(true);
    expect(warnings).toHaveLength(3);
    expect(warnings[2]![1]).toMatchObject({ partition: 'artifact_boms_2025_04', droppedByKeepUpTo: 18 });
    // An already attached month no retention run can take: no warning.
    (await manager().attach('artifact_boms_2026_11', { logger }))._unsafeUnwrap();
    expect(warnings).toHaveLength(3);
  });

  it('refuses names off the naming rule, overlaps, missing tables and non-tables', async () => {
    const m = manager();
    for (const name of ['artifact_boms_2025_13', 'artifact_boms_backup', 'public.artifact_boms_2025_03', 'artifact_boms_2025_3']) {
      expect((await m.attach(name))._unsafeUnwrapErr().code, name).toBe('PARTITION_NAME_INVALID');
    }
    expect((await m.attach('artifact_boms_2025_02'))._unsafeUnwrapErr().code).toBe('TABLE_NOT_FOUND');
    await db.query(
      "CREATE TABLE scanner.artifact_boms_wide PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-12-31 00:00:00+00')",
    );
    await restoreFromBackup('artifact_boms_2024_05', []);
    const overlap = (await m.attach('artifact_boms_2024_05'))._unsafeUnwrapErr();
    expect(overlap.code).toBe('PARTITION_OVERLAP');
    expect(overlap.message).toContain('artifact_boms_wide');
    await db.query('CREATE VIEW scanner.artifact_boms_2023_01 AS SELECT 1');
    expect((await m.attach('artifact_boms_2023_01'))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });

  it("refuses a month under a MINVALUE or 'infinity' bound with PARTITION_OVERLAP, and attaches one beyond it", async () => {
    await db.query(`CREATE TABLE scanner.artifact_boms_history PARTITION OF scanner.artifact_boms FOR VALUES FROM (MINVALUE) TO ('2025-01-01 00:00:00+00');
      CREATE TABLE scanner.artifact_boms_open PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2030-01-01 00:00:00+00') TO ('infinity');`);
    for (const [name, under] of [
      ['artifact_boms_2024_05', 'artifact_boms_history'],
      ['artifact_boms_2031_02', 'artifact_boms_open'],
    ] as const) {
      await restoreFromBackup(name, []);
      const error = (await manager().attach(name))._unsafeUnwrapErr();
      expect([error.code, error.context], error.message).toEqual(['PARTITION_OVERLAP', { partition: name, overlaps: under }]);
      expect(error.message).toContain('detach or drop it first');
    }
    await restoreFromBackup('artifact_boms_2025_01', [['r1', '2025-01-01 00:00:00+00']]);
    expect((await manager().attach('artifact_boms_2025_01'))._unsafeUnwrap().alreadyAttached).toBe(false);
    expect((await rowHomes(db)).r1).toBe('scanner.artifact_boms_2025_01');
  });
});
