/**
 * `ensure` beside the sessions a busy table always has: a report query that
 * keeps a transaction open on the parent, a writer in the middle of its
 * transaction. `ensure` makes each partition as a table shaped like the
 * parent and attaches it, which needs SHARE UPDATE EXCLUSIVE on the parent,
 * not ACCESS EXCLUSIVE: neither session stops it, and it queues no one
 * behind it. The partitions it makes are checked against what
 * `CREATE TABLE … PARTITION OF` makes, catalog row by catalog row.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { type TestDatabase, withApplicationName } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { artifactBomsManager, catalogBounds, createArtifactBomsTable, rowHomes, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created), { table: false });

const manager = (now: string, extra: Parameters<typeof artifactBomsManager>[2] = {}): PartitionManager =>
  artifactBomsManager(db, now, extra);

/** A second session with a transaction left open after `statements`, as a report query or a slow writer leaves it. */
async function openTransaction(...statements: string[]): Promise<{ pid: number; client: pg.Client; end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  await client.query('BEGIN');
  for (const s of statements) await client.query(s);
  return {
    pid: rows[0]!.pid,
    client,
    async end() {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end();
    },
  };
}

/** The relation-level locks `pid` holds, as `relation:Mode`. */
async function locksOf(pid: number): Promise<string[]> {
  const rows = await db.query<{ l: string }>(
    `SELECT l.relation::regclass::text || ':' || l.mode AS l FROM pg_locks l
     WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND l.relation::regclass::text LIKE 'scanner.%' ORDER BY 1`,
    [pid],
  );
  return rows.map((r) => r.l);
}

const insert = (id: string, at: string): string =>
  `INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES ('${id}', 'sha', '${at}')`;

describe('ensure beside a long reader or writer of the parent', () => {
  it('creates the next months while a report query keeps its transaction open on the parent, and rows route to them', async () => {
    await createArtifactBomsTable(db);
    (await manager('2026-11-20T00:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    await db.query(insert('nov', '2026-11-21 00:00:00+00'));
    const report = await openTransaction('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', 'SELECT * FROM scanner.artifact_boms LIMIT 1');
    try {
      expect(await locksOf(report.pid)).toContain('scanner.artifact_boms:AccessShareLock');
      const r = (await manager('2026-12-20T00:00:00Z', { lockTimeoutMs: 1_000 }).ensure({ ahead: 2 }))._unsafeUnwrap();
      expect(r.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01', 'artifact_boms_2027_02']);
      // The reader is still there, on its snapshot, and writers go on into the new months meanwhile.
      expect(await locksOf(report.pid)).toContain('scanner.artifact_boms:AccessShareLock');
      await db.query(insert('jan', '2027-01-31 23:59:59+00'));
      await db.query(insert('feb', '2027-02-01 00:00:00+00'));
      expect((await report.client.query('SELECT count(*)::int AS n FROM scanner.artifact_boms')).rows[0]).toEqual({ n: 1 });
    } finally {
      await report.end();
    }
    expect(await rowHomes(db)).toEqual({
      feb: 'scanner.artifact_boms_2027_02',
      jan: 'scanner.artifact_boms_2027_01',
      nov: 'scanner.artifact_boms_2026_11',
    });
    const bounds = await catalogBounds(db, 'scanner', 'artifact_boms');
    expect(bounds.get('artifact_boms_2027_01')).toBe("FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00')");
  });

  it('creates them while a writer is in the middle of its transaction, whose rows then commit where they belong', async () => {
    await createArtifactBomsTable(db);
    (await manager('2026-11-20T00:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    const writer = await openTransaction(insert('w-nov', '2026-11-22 00:00:00+00'), insert('w-dec', '2026-12-02 00:00:00+00'));
    try {
      expect(await locksOf(writer.pid)).toContain('scanner.artifact_boms:RowExclusiveLock');
      const r = (await manager('2026-12-20T00:00:00Z', { lockTimeoutMs: 1_000 }).ensure({ ahead: 1 }))._unsafeUnwrap();
      expect(r.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
      expect(r.existing.map((e) => e.name)).toEqual(['artifact_boms_2026_12']);
      await writer.client.query(insert('w-jan', '2027-01-05 00:00:00+00'));
      await writer.client.query('COMMIT');
    } finally {
      await writer.end();
    }
    expect(await rowHomes(db)).toEqual({
      'w-dec': 'scanner.artifact_boms_2026_12',
      'w-jan': 'scanner.artifact_boms_2027_01',
      'w-nov': 'scanner.artifact_boms_2026_11',
    });
  });

  it('with a default partition: moves its rows of the new month while a reader of another month runs; a reader of the default itself still holds it up', async () => {
    await createArtifactBomsTable(db);
    await db.query('CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT');
    (await manager('2026-11-20T00:00:00Z').ensure({ ahead: 0 }))._unsafeUnwrap();
    await db.query(insert('nov', '2026-11-21 00:00:00+00'));
    await db.query(insert('dec-1', '2026-12-01 00:00:00+00'));
    await db.query(insert('dec-2', '2026-12-31 23:59:59.999999+00'));
    await db.query(insert('jan', '2027-01-15 00:00:00+00'));
    // A report on November: PostgreSQL prunes the other partitions and the default, and locks November alone.
    const november = await openTransaction(
      "SELECT * FROM scanner.artifact_boms WHERE inserted_at >= '2026-11-01 00:00:00+00' AND inserted_at < '2026-12-01 00:00:00+00'",
    );
    try {
      expect(await locksOf(november.pid)).not.toContain('scanner.artifact_boms_default:AccessShareLock');
      const r = (await manager('2026-12-20T00:00:00Z', { lockTimeoutMs: 1_000 }).ensure({ ahead: 0 }))._unsafeUnwrap();
      expect(r.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([['artifact_boms_2026_12', 2]]);
    } finally {
      await november.end();
    }
    expect(await rowHomes(db)).toEqual({
      'dec-1': 'scanner.artifact_boms_2026_12',
      'dec-2': 'scanner.artifact_boms_2026_12',
      jan: 'scanner.artifact_boms_default',
      nov: 'scanner.artifact_boms_2026_11',
    });
    // ATTACH must prove the default partition holds no row of the new range: that takes ACCESS EXCLUSIVE on the
    // default, so a session reading the whole table (the default with it) is still waited for, and named.
    const whole = await openTransaction('SELECT * FROM scanner.artifact_boms LIMIT 1');
    try {
      const e = (await manager('2026-12-20T00:00:00Z', { lockTimeoutMs: 300 }).ensure({ ahead: 1 }))._unsafeUnwrapErr();
      expect(e.code).toBe('LOCK_TIMEOUT');
      expect(e.message).toContain(`pid ${whole.pid}`);
      expect(e.message).toContain('AccessShareLock on scanner.artifact_boms_default');
    } finally {
      await whole.end();
    }
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2027_01')).toBe(false);
    expect(await db.query("SELECT to_regclass('scanner.artifact_boms_2027_01') AS t")).toEqual([{ t: null }]);
    const after = (await manager('2026-12-20T00:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(after.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([['artifact_boms_2027_01', 1]]);
    expect((await rowHomes(db)).jan).toBe('scanner.artifact_boms_2027_01');
  });
});

describe('ensure beside a large default partition', () => {
  it('scans the default partition once per batch, not once per new slot, and leaves no constraint on it', async () => {
    await createArtifactBomsTable(db);
    await db.query(`CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
      INSERT INTO scanner.artifact_boms_default SELECT 'old-' || g, 'sha', null, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute'
        FROM generate_series(1, 5000) g`);
    // One connection, whose statistics are flushed on demand: the count of scans of the default is then exact.
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const scans = async (): Promise<number> => {
      await pool.query('SELECT pg_stat_force_next_flush()');
      const [row] = await db.query<{ n: string }>(
        "SELECT seq_scan AS n FROM pg_stat_user_tables WHERE relid = 'scanner.artifact_boms_default'::regclass",
      );
      return Number(row!.n);
    };
    const checks = async (): Promise<unknown> =>
      db.query("SELECT conname FROM pg_constraint WHERE conrelid = 'scanner.artifact_boms_default'::regclass AND contype = 'c'");
    try {
      const before = await scans();
      const r = (await manager('2026-11-20T00:00:00Z', { pg: pool }).ensure({ ahead: 3 }))._unsafeUnwrap();
      expect(r.created).toHaveLength(4);
      expect((await scans()) - before).toBe(1);
      expect(await checks()).toEqual([]);
      // A batch whose range the default holds rows of fails its CHECK, and is made slot by slot, moving them.
      await db.query(insert('apr', '2027-04-02 00:00:00+00'));
      const later = (await manager('2026-11-20T00:00:00Z', { pg: pool }).ensure({ ahead: 6 }))._unsafeUnwrap();
      expect(later.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([
        ['artifact_boms_2027_03', 0],
        ['artifact_boms_2027_04', 1],
        ['artifact_boms_2027_05', 0],
      ]);
      expect((await rowHomes(db)).apr).toBe('scanner.artifact_boms_2027_04');
      expect(await checks()).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});

describe('a run that ends between making the table and attaching it', () => {
  it('leaves nothing behind when its backend is killed while ATTACH waits, and the next run creates every slot once', async () => {
    await createArtifactBomsTable(db);
    // An ANALYZE of the parent holds SHARE UPDATE EXCLUSIVE: the CREATE goes through, the ATTACH waits.
    const analyze = await openTransaction('LOCK TABLE ONLY scanner.artifact_boms IN SHARE UPDATE EXCLUSIVE MODE');
    const app = 'bk-ensure-killed';
    const pool = new pg.Pool({ connectionString: withApplicationName(db.url, app), max: 1 });
    pool.on('error', () => undefined);
    try {
      const m = new PartitionManager({
        pg: pool,
        table: 'scanner.artifact_boms',
        column: 'inserted_at',
        now: new Date('2026-11-23T00:00:00Z'),
        lockTimeoutMs: 30_000,
      });
      const running = m.ensure({ ahead: 1 });
      let pid: number | undefined;
      for (let i = 0; i < 200 && pid === undefined; i++) {
        // Waiting for the parent, with the new table already made (its creator holds ACCESS EXCLUSIVE on it).
        const rows = await db.query<{ pid: number }>(
          `SELECT a.pid FROM pg_stat_activity a
           WHERE a.application_name = $1
             AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted AND l.relation = 'scanner.artifact_boms'::regclass)
             AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.mode = 'AccessExclusiveLock' AND l.locktype = 'relation')`,
          [app],
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(pid).toBeDefined();
      await db.query('SELECT pg_terminate_backend($1)', [pid]);
      const killed = await running;
      expect(killed.isErr()).toBe(true);
      expect(killed._unsafeUnwrapErr().partial?.created ?? []).toEqual([]);
    } finally {
      await analyze.end();
      await pool.end();
    }
    expect(await db.query("SELECT relname FROM pg_class WHERE relname LIKE 'artifact_boms_2%'")).toEqual([]);
    const next = (await manager('2026-11-23T00:00:00Z').ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(next.created.map((c) => c.name)).toEqual(['artifact_boms_2026_11', 'artifact_boms_2026_12']);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()]).toEqual(['artifact_boms_2026_11', 'artifact_boms_2026_12']);
  });

  it('reports a table left with a slot’s name (as a run killed before it attached would leave it), makes no second one, and takes it once attached', async () => {
    await createArtifactBomsTable(db);
    await db.query('CREATE TABLE scanner.artifact_boms_2026_12 (LIKE scanner.artifact_boms INCLUDING DEFAULTS INCLUDING CONSTRAINTS)');
    const e = (await manager('2026-11-23T00:00:00Z').ensure({ ahead: 2 }))._unsafeUnwrapErr();
    expect(e.code).toBe('PARTITION_NAME_TAKEN');
    expect(e.message).toContain('scanner.artifact_boms_2026_12 (a standalone table)');
    expect(e.message).toContain('backfill-kit partitions attach scanner.artifact_boms_2026_12');
    expect(e.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2026_11', 'artifact_boms_2027_01']);
    // Still exactly one relation of that name, still standalone; a second run says the same.
    const named = "SELECT c.relkind::text AS kind, c.relispartition AS part FROM pg_class c WHERE c.relname = 'artifact_boms_2026_12'";
    expect(await db.query(named)).toEqual([{ kind: 'r', part: false }]);
    expect((await manager('2026-11-23T00:00:00Z').ensure({ ahead: 2 }))._unsafeUnwrapErr().code).toBe('PARTITION_NAME_TAKEN');
    // What the message says to do.
    (await manager('2026-11-23T00:00:00Z').attach('scanner.artifact_boms_2026_12'))._unsafeUnwrap();
    const daily = (await manager('2026-11-23T00:00:00Z').ensure({ ahead: 2 }))._unsafeUnwrap();
    expect(daily.created).toEqual([]);
    expect(daily.existing.map((x) => x.coveredBy)).toEqual(['artifact_boms_2026_11', 'artifact_boms_2026_12', 'artifact_boms_2027_01']);
    expect(await db.query(named)).toEqual([{ kind: 'r', part: true }]);
  });
});

/**
 * Everything PostgreSQL records about a partition, with its own name replaced by `P` (index and
 * constraint names carry it), and left out: internal triggers' oid-bearing names, the number
 * PostgreSQL appends to each partition's copy of a foreign key referencing the parent (in order of
 * creation), and the `pg_attver` some servers stamp on every column.
 */
async function fingerprint(schema: string, name: string): Promise<unknown> {
  const rows = await db.query<{ f: unknown }>(
    `WITH t AS (SELECT to_regclass($1) AS oid)
     SELECT jsonb_build_object(
       'class', (SELECT jsonb_build_object('owner', c.relowner::regrole::text, 'tablespace', (SELECT spcname FROM pg_tablespace s WHERE s.oid = c.reltablespace),
                   'am', (SELECT amname FROM pg_am a WHERE a.oid = c.relam), 'persistence', c.relpersistence, 'acl', c.relacl::text,
                   'options', c.reloptions, 'replident', c.relreplident, 'rowsecurity', c.relrowsecurity, 'kind', c.relkind, 'ispartition', c.relispartition)
                 FROM pg_class c, t WHERE c.oid = t.oid),
       'columns', (SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'num', a.attnum, 'type', format_type(a.atttypid, a.atttypmod),
                     'options', (SELECT array_agg(o) FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg\\_attver=%'), 'notnull', a.attnotnull, 'identity', a.attidentity, 'generated', a.attgenerated, 'local', a.attislocal, 'inh', a.attinhcount,
                     'collation', a.attcollation::regcollation::text, 'storage', a.attstorage, 'compression', a.attcompression,
                     'stattarget', a.attstattarget, 'default', pg_get_expr(d.adbin, d.adrelid),
                     'comment', col_description(a.attrelid, a.attnum)) ORDER BY a.attnum)
                   FROM pg_attribute a JOIN t ON a.attrelid = t.oid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                   WHERE a.attnum > 0 AND NOT a.attisdropped),
       'constraints', (SELECT jsonb_agg(x ORDER BY x::text) FROM (
                   SELECT jsonb_build_object('name', replace(k.conname, $2, 'P'), 'type', k.contype, 'def', pg_get_constraintdef(k.oid),
                     'local', k.conislocal, 'inh', k.coninhcount, 'noinherit', k.connoinherit, 'valid', k.convalidated, 'cloned', k.conparentid <> 0) AS x
                   FROM pg_constraint k, t WHERE k.conrelid = t.oid) q),
       'referencedBy', (SELECT jsonb_agg(x ORDER BY x::text) FROM (
                   SELECT jsonb_build_object('name', regexp_replace(k.conname, '[0-9]+$', ''), 'from', k.conrelid::regclass::text, 'cloned', k.conparentid <> 0) AS x
                   FROM pg_constraint k, t WHERE k.confrelid = t.oid) q),
       'indexes', (SELECT jsonb_agg(x ORDER BY x::text) FROM (
                   SELECT jsonb_build_object('def', replace(pg_get_indexdef(i.indexrelid), $2, 'P'), 'valid', i.indisvalid,
                     'attached', EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)) AS x
                   FROM pg_index i, t WHERE i.indrelid = t.oid) q),
       'triggers', (SELECT jsonb_agg(x ORDER BY x::text) FROM (
                   SELECT jsonb_build_object('name', CASE WHEN g.tgisinternal THEN 'internal' ELSE g.tgname END, 'fn', g.tgfoid::regproc::text,
                     'type', g.tgtype, 'enabled', g.tgenabled, 'cloned', g.tgparentid <> 0) AS x
                   FROM pg_trigger g, t WHERE g.tgrelid = t.oid) q),
       'policies', (SELECT count(*) FROM pg_policy p, t WHERE p.polrelid = t.oid),
       'comment', (SELECT obj_description(t.oid, 'pg_class') FROM t)
     ) AS f`,
    [`${schema}.${name}`, name],
  );
  return rows[0]!.f;
}

/** A tablespace in a fresh folder the server's own user owns, when the server runs on this machine as another user root can hand it to. */
async function localTablespace(): Promise<{ name: string; drop(): Promise<void> } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [{ dir }] = (await db.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir")) as [{ dir: string }];
  let owner: { uid: number; gid: number };
  try {
    owner = statSync(dir);
  } catch {
    return undefined; // the server is elsewhere
  }
  const folder = mkdtempSync(join(tmpdir(), 'bk-tablespace-'));
  chownSync(folder, owner.uid, owner.gid);
  chmodSync(folder, 0o700);
  const name = `bk_part_${process.pid}_${Date.now()}`;
  await db.query(`CREATE TABLESPACE ${name} LOCATION '${folder}'`);
  return {
    name,
    async drop() {
      await db.query('DROP SCHEMA IF EXISTS scanner CASCADE');
      await db.query(`DROP TABLESPACE IF EXISTS ${name}`);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

describe('the partitions ensure makes', () => {
  it('are what CREATE TABLE … PARTITION OF makes: columns, defaults, identity, generated columns, constraints, keys, indexes, triggers, storage, owner, privileges, tablespace', async () => {
    const [{ v }] = (await db.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v")) as [{ v: number }];
    const tablespace = await localTablespace();
    try {
      // PostgreSQL 17 lets a partitioned table name the access method its partitions get.
      const am = v >= 170000;
      if (am)
        await db.query('DROP ACCESS METHOD IF EXISTS bk_heap2; CREATE ACCESS METHOD bk_heap2 TYPE TABLE HANDLER heap_tableam_handler');
      await db.query(`SET TIME ZONE 'UTC';
        CREATE SCHEMA scanner;
        CREATE TABLE scanner.builds (id int PRIMARY KEY);
        CREATE TABLE scanner.rich (
          id bigint GENERATED ALWAYS AS IDENTITY,
          seq bigserial,
          name text COLLATE "C" NOT NULL DEFAULT 'unnamed',
          gone text,
          body text,
          build_id int REFERENCES scanner.builds (id) ON DELETE CASCADE,
          doubled int GENERATED ALWAYS AS (build_id * 2) STORED,
          at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT name_not_blank CHECK (name <> ''),
          PRIMARY KEY (id, at),
          UNIQUE (name, at)
        ) PARTITION BY RANGE (at) ${am ? 'USING bk_heap2' : ''} ${tablespace ? `TABLESPACE ${tablespace.name}` : ''};
        ALTER TABLE scanner.rich DROP COLUMN gone;
        ALTER TABLE scanner.rich ALTER COLUMN body SET STORAGE EXTERNAL;
        ALTER TABLE scanner.rich ADD COLUMN note text COMPRESSION pglz;
        COMMENT ON TABLE scanner.rich IS 'the parent';
        COMMENT ON COLUMN scanner.rich.name IS 'a column comment';
        GRANT SELECT ON scanner.rich TO PUBLIC;
        CREATE INDEX rich_lower_name ON scanner.rich (lower(name)) WHERE body IS NOT NULL;
        CREATE FUNCTION scanner.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
        CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON scanner.rich FOR EACH ROW EXECUTE FUNCTION scanner.touch();
        CREATE TABLE scanner.uses (rich_id bigint, rich_at timestamptz, FOREIGN KEY (rich_id, rich_at) REFERENCES scanner.rich (id, at));
        CREATE TABLE scanner.rich_2026_01 PARTITION OF scanner.rich FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
        -- PARTITION OF gives a partition none of the parent's privileges; ensure gives its partitions the parent's, so the reference gets them by hand.
        GRANT SELECT ON scanner.rich_2026_01 TO PUBLIC;`);
      const m = new PartitionManager({ pg: db.pool, table: 'scanner.rich', column: 'at', now: new Date('2026-11-23T00:00:00Z') });
      const r = (await m.ensure({ ahead: 1 }))._unsafeUnwrap();
      expect(r.created.map((c) => c.name)).toEqual(['rich_2026_11', 'rich_2026_12']);
      const reference = await fingerprint('scanner', 'rich_2026_01');
      const [parent] = await db.query<{ acl: string }>("SELECT relacl::text AS acl FROM pg_class WHERE oid = 'scanner.rich'::regclass");
      expect(reference).toMatchObject({ class: { tablespace: tablespace?.name ?? null, am: am ? 'bk_heap2' : 'heap', acl: parent?.acl } });
      expect(await fingerprint('scanner', 'rich_2026_11')).toEqual(reference);
      expect(await fingerprint('scanner', 'rich_2026_12')).toEqual(reference);
      // And they behave alike: through the parent, and written to directly.
      await db.query(`INSERT INTO scanner.builds VALUES (7);
        INSERT INTO scanner.rich (name, build_id, at) VALUES ('jan', 7, '2026-01-10 00:00:00+00'), ('nov', 7, '2026-11-10 00:00:00+00')`);
      expect(await db.query('SELECT name, doubled, tableoid::regclass::text AS home FROM scanner.rich ORDER BY name')).toEqual([
        { name: 'jan', doubled: 14, home: 'scanner.rich_2026_01' },
        { name: 'nov', doubled: 14, home: 'scanner.rich_2026_11' },
      ]);
      const direct = async (part: string, at: string): Promise<string> =>
        db.query(`INSERT INTO scanner.${part} (name, build_id, at) VALUES ('direct', 7, '${at}') RETURNING id IS NOT NULL AS ok`).then(
          (rows) => `ok ${JSON.stringify(rows)}`,
          (e: { code?: string }) => `error ${e.code}`,
        );
      expect(await direct('rich_2026_11', '2026-11-11 00:00:00+00')).toBe(await direct('rich_2026_01', '2026-01-11 00:00:00+00'));
    } finally {
      await tablespace?.drop();
    }
  });
});
