/**
 * What the importer must never do to a user's database: drop a table it
 * did not make, reshape a table, trip over foreign keys, fail a whole import
 * on one id, or time out without saying who is in the way. And swap loads
 * that run side by side stay all or nothing.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, withApplicationName, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import type { PgPoolLike } from '../../../src/_internals/pg.js';
import { PgStagingTarget, StagingImporter, type StagingRow, type StagingStrategy } from '../../../src/staging/index.js';
import { createKeyWithExtras, primaryKeyExtras, scratch, swapSessionWithOneRow, TABLES } from './fixtures.js';

let db: TestDatabase;
let dir: string;
let good: string; // 340 linksets + 1200 chunks

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch('bk-staging-safety-');
  good = join(dir, 'good.tar.zst');
  (
    await writeDataset(good, {
      members: { 'linksets.ndjson': generateLinksets(340, 7), 'advisory_chunks.ndjson': generateAdvisoryChunks(1200, 42) },
    })
  )._unsafeUnwrap();
});
afterAll(async () => {
  await db.drop();
});

function importer(schema: string, extra: Partial<ConstructorParameters<typeof StagingImporter>[0]> = {}): StagingImporter {
  return new StagingImporter({ pg: db.pool, schema, tables: TABLES, ...extra });
}

async function dataset(file: string, members: Record<string, Iterable<object>>): Promise<string> {
  const path = join(dir, file);
  (await writeDataset(path, { members }))._unsafeUnwrap();
  return path;
}

async function count(table: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return row!.n;
}

/** Relations of `schema` named like the library's fresh and old tables. */
async function leftovers(schema: string): Promise<string[]> {
  const rows = await db.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname LIKE '\\_bk\\_%'`,
    [schema],
  );
  return rows.map((r) => r.relname);
}

/** Makes `<schema>.<name>` look like what a dead swap of `tag` left behind: the library's name rule and its mark. */
async function markedLeftover(schema: string, name: string, tag: string, role: 'new' | 'old'): Promise<void> {
  await db.query(`CREATE TABLE ${schema}.${name} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
  await db.query(
    `COMMENT ON TABLE ${schema}.${name} IS '@stella/backfill-kit swap import ${tag}: ${role} contents of ${schema}.linksets_raw; dropped by the next swap import if left behind'`,
  );
}

/** `n` characters of base64 from random bytes: text pglz cannot compress. */
function incompressible(n: number): string {
  return randomBytes(n).toString('base64').slice(0, n);
}

describe('swap drops only what it made', () => {
  it('keeps user tables named like its leftovers, and reports what it dropped', async () => {
    const s = 's_leftover';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    await db.query(`CREATE TABLE ${s}._bk_old_archive_2024 AS SELECT g AS n FROM generate_series(1, 1000) g`);
    // The library's exact name rule, but not its mark: not provably ours.
    await db.query(`CREATE TABLE ${s}._bk_old_deadbeef_0 AS SELECT 1 AS n`);
    await db.query(`CREATE TABLE ${s}._bk_stage_deadbeef_1 AS SELECT 1 AS n`);
    // Its mark, but for another tag than the name's.
    await db.query(`CREATE TABLE ${s}._bk_old_cafebabe_0 AS SELECT 1 AS n`);
    await db.query(
      `COMMENT ON TABLE ${s}._bk_old_cafebabe_0 IS '@stella/backfill-kit swap import deadbeef: old contents of ${s}.linksets_raw; dropped by the next swap import if left behind'`,
    );
    const report = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrap();
    expect(await count(`${s}._bk_old_archive_2024`)).toBe(1000);
    for (const t of ['_bk_old_deadbeef_0', '_bk_stage_deadbeef_1', '_bk_old_cafebabe_0']) expect(await count(`${s}.${t}`)).toBe(1);
    // Only this import's two old tables went.
    expect(report.dropped).toHaveLength(2);
    for (const t of report.dropped) expect(t).toMatch(new RegExp(`^${s}\\._bk_old_[0-9a-f]{8}_[01]$`));
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = ANY($1::text[])`, [report.dropped.map((t) => t.split('.')[1])])).toEqual(
      [],
    );
  });

  it('a truncate import drops what a dead swap left behind too, not only the next swap', async () => {
    const s = 's_leftover_truncate';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    // What a swap killed after its loader committed leaves: a fresh table under the name rule, with the mark, whose tag no import holds.
    await markedLeftover(s, '_bk_stage_0badc0de_0', '0badc0de', 'new');
    await markedLeftover(s, '_bk_old_0badc0de_1', '0badc0de', 'old');
    const report = (await importer(s).import(good))._unsafeUnwrap();
    expect(report.dropped).toEqual([`${s}._bk_old_0badc0de_1`, `${s}._bk_stage_0badc0de_0`]);
    expect(await leftovers(s)).toEqual([]);
    expect(await count(`${s}.linksets_raw`)).toBe(340);
  });

  it('skips a leftover another session holds a lock on (another import dropping it), instead of failing on its lock', async () => {
    const s = 's_leftover_locked';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    await markedLeftover(s, '_bk_old_0badf00d_0', '0badf00d', 'old');
    const holder = await db.pool.connect();
    try {
      await holder.query(`BEGIN; LOCK TABLE ${s}._bk_old_0badf00d_0 IN ACCESS SHARE MODE`);
      for (const strategy of ['swap', 'truncate'] as const) {
        // The default lock_timeout (5 s) for the live tables: the leftover is skipped (NOWAIT) whatever it is.
        const imported = await importer(s).import(good, { strategy });
        if (imported.isErr()) throw imported.error;
        expect(imported.value.dropped.filter((t) => t.includes('0badf00d'))).toEqual([]);
      }
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    const later = (await importer(s).import(good))._unsafeUnwrap();
    expect(later.dropped).toEqual([`${s}._bk_old_0badf00d_0`]);
  });

  it('takes a leftover its own import dropped between the listing and the lock as gone, instead of failing on it', async () => {
    const s = 's_leftover_vanished';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    const table = `${s}._bk_old_0badcafe_0`;
    // The pool's clients see the table dropped by another session just before they lock it: the import that
    // owned it finishing (its DROP, then its tag released) after this one's listing read the catalog.
    const pool: PgPoolLike = {
      get totalCount() {
        return db.pool.totalCount;
      },
      query: (...args: unknown[]) => db.pool.query(...(args as Parameters<typeof db.pool.query>)),
      async connect() {
        const client = await db.pool.connect();
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        const { release } = client;
        const lockingIt = (args: unknown[]): boolean => {
          const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | null)?.text;
          return typeof text === 'string' && text.startsWith(`LOCK TABLE ${table} `);
        };
        return Object.assign(client, {
          query: (...args: unknown[]) =>
            lockingIt(args) ? db.query(`DROP TABLE IF EXISTS ${table}`).then(() => query(...args)) : query(...args),
          release: (destroy?: boolean | Error) => {
            Reflect.deleteProperty(client, 'query');
            client.release = release;
            client.release(destroy);
          },
        });
      },
    };
    for (const strategy of ['swap', 'truncate'] as const) {
      await markedLeftover(s, '_bk_old_0badcafe_0', '0badcafe', 'old');
      const imported = await importer(s, { pg: pool }).import(good, { strategy });
      if (imported.isErr()) throw imported.error;
      expect(imported.value.dropped.filter((t) => t.includes('0badcafe'))).toEqual([]);
      expect(await leftovers(s)).toEqual([]);
    }
  });

  it('never drops the fresh tables of a swap that is still running', async () => {
    const s = 's_running';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    const { target: first, session: running } = await swapSessionWithOneRow(db.url, s);
    try {
      expect(await leftovers(s)).toHaveLength(2); // its committed fresh table and that table's key
      // Another swap import runs to its end meanwhile: the fresh table is marked, but its import holds the tag.
      const other = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrap();
      expect(other.dropped.filter((t) => t.includes('_bk_stage_'))).toEqual([]);
      expect((await running.commit())._unsafeUnwrap().dropped).toHaveLength(1);
      expect(await db.query(`SELECT id FROM ${s}.linksets_raw`)).toEqual([{ id: 'new-1' }]);
    } finally {
      await first.close();
    }
  });

  it('refuses, changing nothing, a swap of a table whose row type a SQL function returns', async () => {
    const s = 's_rowtype';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    await db.query(
      `CREATE FUNCTION ${s}.some_linksets() RETURNS SETOF ${s}.linksets_raw LANGUAGE sql STABLE AS 'SELECT * FROM ${s}.linksets_raw LIMIT 5'`,
    );
    for (let i = 0; i < 2; i++) {
      const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
      expect([e.code, e.dbCode]).toEqual(['DB_ERROR', '2BP01']);
      expect(e.message).toContain(`cannot swap ${s}.linksets_raw: function ${s}.some_linksets() depends on it`);
      expect(await leftovers(s)).toEqual([]);
    }
    expect(await db.query(`SELECT count(*)::int AS n FROM ${s}.some_linksets()`)).toEqual([{ n: 5 }]);
  });

  it('keeps, with a warning, a leftover old table that an object depends on, and swaps anyway', async () => {
    const s = 's_leftover_used';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    // What an earlier swap could leave behind: its old table, which a function's return type still uses.
    await markedLeftover(s, '_bk_old_deadbeef_0', 'deadbeef', 'old');
    await db.query(
      `CREATE FUNCTION ${s}.old_rows() RETURNS SETOF ${s}._bk_old_deadbeef_0 LANGUAGE sql AS 'SELECT * FROM ${s}._bk_old_deadbeef_0'`,
    );
    const warnings: [string, Record<string, unknown> | undefined][] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string, f?: Record<string, unknown>) => void warnings.push([m, f]) };
    for (let i = 0; i < 2; i++) {
      const report = (await importer(s, { logger }).import(good, { strategy: 'swap' }))._unsafeUnwrap();
      expect(report.dropped.filter((t) => t.includes('deadbeef'))).toEqual([]);
    }
    expect((await leftovers(s)).sort()).toEqual(['_bk_old_deadbeef_0', '_bk_old_deadbeef_0_pkey']);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.[1]?.fix).toBe(
      `change or drop function ${s}.old_rows() (it still uses the old table), then DROP TABLE ${s}._bk_old_deadbeef_0`,
    );
  });

  it('keeps, with a warning, a leftover old table that belongs to an extension, and imports anyway (either strategy)', async () => {
    const s = 's_leftover_extension';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    // What an earlier swap could leave behind: its old table, made a member of an extension (DROP TABLE refuses it).
    await markedLeftover(s, '_bk_old_deadbeef_0', 'deadbeef', 'old');
    await db.query(`ALTER EXTENSION plpgsql ADD TABLE ${s}._bk_old_deadbeef_0`);
    try {
      const warnings: [string, Record<string, unknown> | undefined][] = [];
      const logger = { debug() {}, info() {}, error() {}, warn: (m: string, f?: Record<string, unknown>) => void warnings.push([m, f]) };
      for (const strategy of ['swap', 'truncate', 'swap'] as const) {
        const report = (await importer(s, { logger }).import(good, { strategy }))._unsafeUnwrap();
        expect(report.dropped.filter((t) => t.includes('deadbeef'))).toEqual([]);
      }
      expect((await leftovers(s)).sort()).toEqual(['_bk_old_deadbeef_0', '_bk_old_deadbeef_0_pkey']);
      expect(warnings).toHaveLength(3);
      expect(warnings[0]?.[0]).toBe('a swapped-out staging table stays: it belongs to an extension');
      expect(warnings[0]?.[1]?.fix).toBe(
        `ALTER EXTENSION plpgsql DROP TABLE ${s}._bk_old_deadbeef_0, then DROP TABLE ${s}._bk_old_deadbeef_0`,
      );
      expect(await count(`${s}.linksets_raw`)).toBe(340);
    } finally {
      await db.query(`ALTER EXTENSION plpgsql DROP TABLE ${s}._bk_old_deadbeef_0`);
    }
    // Out of the extension, the next import drops it.
    expect((await importer(s).import(good)).isOk()).toBe(true);
    expect(await leftovers(s)).toEqual([]);
  });

  it("carries the live table's comment over to the swapped-in table", async () => {
    const s = 's_comment';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    await db.query(`COMMENT ON TABLE ${s}.linksets_raw IS 'owned by the linkset team'`);
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    expect(await db.query(`SELECT obj_description('${s}.linksets_raw'::regclass, 'pg_class') AS c`)).toEqual([
      { c: 'owned by the linkset team' },
    ]);
    expect(await db.query(`SELECT obj_description('${s}.advisory_chunks_raw'::regclass, 'pg_class') AS c`)).toEqual([{ c: null }]);
  });
});

describe('the reject file', () => {
  it('never writes through a symlink, nor over the tarball being imported', async () => {
    const s = 's_reject_path';
    const bad = await dataset('rejects-bad.tar.zst', { 'linksets.ndjson': [{ _id: 'a' }, { nope: 1 }] });
    const precious = join(dir, 'precious.txt');
    writeFileSync(precious, 'keep me\n');
    const link = join(dir, 'rejects-link.ndjson');
    symlinkSync(precious, link);
    const one = new StagingImporter({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } });
    const viaLink = (await one.import(bad, { onInvalid: 'reject', rejectPath: link }))._unsafeUnwrapErr();
    expect([viaLink.code, viaLink.message]).toEqual(['IO_ERROR', expect.stringContaining('is a symbolic link')]);
    expect(readFileSync(precious, 'utf8')).toBe('keep me\n');
    const before = readFileSync(bad);
    const overTarball = (await one.import(bad, { onInvalid: 'reject', rejectPath: bad }))._unsafeUnwrapErr();
    expect([overTarball.code, overTarball.message]).toEqual(['INVALID_ARGUMENT', expect.stringContaining('is the tarball being imported')]);
    expect(readFileSync(bad).equals(before)).toBe(true);
    // A plain path works, and a second import overwrites it.
    const plain = join(dir, 'rejects-plain.ndjson');
    for (let i = 0; i < 2; i++)
      expect((await one.import(bad, { onInvalid: 'reject', rejectPath: plain }))._unsafeUnwrap().rejected).toBe(1);
    expect(readFileSync(plain, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});

describe('table shape', () => {
  it('swap refuses a table with an extra column, naming it, and keeps column and data', async () => {
    const s = 's_shape_extra';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL, tenant text)`);
    await db.query(`INSERT INTO ${s}.linksets_raw VALUES ('keep', '{}', 'acme')`);
    for (const dryRun of [false, true]) {
      const e = (await importer(s).import(good, { strategy: 'swap', dryRun }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain('column tenant (text) would be dropped, with its data');
      expect(e.context).toMatchObject({ table: `"${s}"."linksets_raw"` });
    }
    expect(await db.query(`SELECT id, tenant FROM ${s}.linksets_raw`)).toEqual([{ id: 'keep', tenant: 'acme' }]);
  });

  it('swap checks the shape again under its lock: a column a migration adds during the load is kept, with its data', async () => {
    const s = 's_shape_midload';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    const { target, session } = await swapSessionWithOneRow(db.url, s);
    try {
      await db.query(`ALTER TABLE ${s}.linksets_raw ADD COLUMN tenant text; UPDATE ${s}.linksets_raw SET tenant = 'acme'`);
      const e = (await session.commit())._unsafeUnwrapErr();
      expect((await session.abort()).isOk()).toBe(true);
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain('column tenant (text) would be dropped, with its data');
      expect(await db.query(`SELECT tenant, count(*)::int AS n FROM ${s}.linksets_raw GROUP BY tenant`)).toEqual([
        { tenant: 'acme', n: 340 },
      ]);
    } finally {
      await target.close();
    }
  });

  it('swap refuses a table with constraints besides its key (foreign key, UNIQUE, CHECK), which the swapped-in table would not have; truncate keeps them', async () => {
    const s = 's_shape_constraints';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    await db.query(`CREATE TABLE ${s}.known (id text PRIMARY KEY); INSERT INTO ${s}.known SELECT id FROM ${s}.linksets_raw`);
    await db.query(`ALTER TABLE ${s}.linksets_raw ADD CONSTRAINT linksets_known FOREIGN KEY (id) REFERENCES ${s}.known (id)`);
    await db.query(
      `ALTER TABLE ${s}.advisory_chunks_raw ADD CONSTRAINT chunks_unique UNIQUE (raw), ADD CONSTRAINT chunks_object CHECK (jsonb_typeof(raw) = 'object')`,
    );
    const constraints = () =>
      db.query(
        `SELECT conrelid::regclass::text AS t, conname FROM pg_constraint WHERE connamespace = '${s}'::regnamespace AND contype NOT IN ('p', 'n') ORDER BY 1, 2`,
      );
    const before = await constraints();
    expect(before).toHaveLength(3);
    for (const dryRun of [false, true]) {
      const e = (await importer(s).import(good, { strategy: 'swap', dryRun }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(
        `constraint linksets_known (FOREIGN KEY (id) REFERENCES ${s}.known(id)) would be dropped, and rows it refuses let in`,
      );
      expect(e.message).toMatch(/Use strategy "truncate" .* Nothing was changed\.$/);
    }
    expect(await constraints()).toEqual(before);
    // The advisory chunks table alone: its UNIQUE and CHECK constraints are named too.
    const chunks = new StagingImporter({ pg: db.pool, schema: s, tables: { 'advisory_chunks.ndjson': 'advisory_chunks_raw' } });
    const e = (await chunks.import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.message).toContain("constraint chunks_object (CHECK ((jsonb_typeof(raw) = 'object'::text))) would be dropped");
    expect(e.message).toContain('constraint chunks_unique (UNIQUE (raw)) would be dropped');
    expect((await importer(s).import(good, { strategy: 'truncate' })).isOk()).toBe(true);
    expect(await constraints()).toEqual(before);
  });

  it('truncate: a row a unique index on raw refuses is named by its line, not reported as a duplicate id', async () => {
    const s = 's_unique_on_raw';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL);
      CREATE UNIQUE INDEX linksets_name_key ON ${s}.linksets_raw ((raw->>'name'));
      INSERT INTO ${s}.linksets_raw VALUES ('keep', '{"name":"kept"}')`);
    const file = await dataset('unique-on-raw.tar.zst', {
      'linksets.ndjson': [
        { _id: 'a', name: 'one' },
        { _id: 'b', name: 'two' },
        { _id: 'c', name: 'one' },
      ],
    });
    const linksets = new StagingImporter({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } });
    const e = (await linksets.import(file, { strategy: 'truncate' }))._unsafeUnwrapErr();
    expect(e.code).toBe('DB_ERROR');
    expect(e.message).toMatch(/^linksets\.ndjson line 3: .*linksets_name_key/);
    expect(e.context).toMatchObject({ member: 'linksets.ndjson', line: 3 });
    expect(await db.query(`SELECT id FROM ${s}.linksets_raw`)).toEqual([{ id: 'keep' }]);
  });

  it('swap refuses a table with a unique index no constraint owns (on an expression, partial), as it refuses a UNIQUE constraint; truncate keeps it', async () => {
    const s = 's_shape_unique_index';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL);
      INSERT INTO ${s}.linksets_raw VALUES ('keep', '{"name":"kept"}');
      CREATE UNIQUE INDEX linksets_name_key ON ${s}.linksets_raw ((raw->>'name'));
      CREATE UNIQUE INDEX linksets_live_key ON ${s}.linksets_raw ((raw->>'slot')) WHERE raw ? 'live';
      CREATE INDEX linksets_name ON ${s}.linksets_raw ((raw->>'name'))`);
    const one = new StagingImporter({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } });
    const sameName = await dataset('unique-index-same.tar.zst', {
      'linksets.ndjson': [
        { _id: 'a', name: 'x' },
        { _id: 'b', name: 'x' },
      ],
    });
    const indexes = () =>
      db.query(`SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = '${s}.linksets_raw'::regclass ORDER BY 1`);
    const before = await indexes();
    expect(before).toHaveLength(4);
    for (const dryRun of [false, true]) {
      const e = (await one.import(sameName, { strategy: 'swap', dryRun }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(
        `unique index linksets_name_key (CREATE UNIQUE INDEX linksets_name_key ON ${s}.linksets_raw USING btree (((raw ->> 'name'::text)))) would be dropped, and rows it refuses let in`,
      );
      expect(e.message).toContain(`unique index linksets_live_key (CREATE UNIQUE INDEX linksets_live_key ON ${s}.linksets_raw`);
      // A plain index refuses no row: the swapped-in table goes without it, as documented.
      expect(e.message).not.toContain('linksets_name (');
      expect(e.message).toMatch(/Use strategy "truncate" .* Nothing was changed\.$/);
    }
    expect(await indexes()).toEqual(before);
    expect(await db.query(`SELECT id FROM ${s}.linksets_raw`)).toEqual([{ id: 'keep' }]);
    // Truncate keeps the table and its indexes, which go on refusing what they refuse.
    expect((await one.import(sameName)).isErr()).toBe(true);
    expect(await db.query(`SELECT id FROM ${s}.linksets_raw`)).toEqual([{ id: 'keep' }]);
    const distinct = await dataset('unique-index-distinct.tar.zst', {
      'linksets.ndjson': [
        { _id: 'a', name: 'x' },
        { _id: 'b', name: 'y' },
      ],
    });
    expect((await one.import(distinct)).isOk()).toBe(true);
    expect(await indexes()).toEqual(before);
  });

  it('refuses a primary key that is not on id alone, under both strategies and in dry runs: it cannot catch duplicate ids', async () => {
    const s = 's_shape_wide_key';
    await db.query(`CREATE SCHEMA ${s};
      CREATE TABLE ${s}.linksets_raw (id text NOT NULL, raw jsonb NOT NULL, v bigint GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (id, v));
      INSERT INTO ${s}.linksets_raw (id, raw) VALUES ('keep', '{}');
      CREATE TABLE ${s}.advisory_chunks_raw (id text NOT NULL, raw jsonb PRIMARY KEY)`);
    const twice = await dataset('wide-key.tar.zst', {
      'linksets.ndjson': [
        { _id: 'a', n: 1 },
        { _id: 'a', n: 2 },
      ],
      'advisory_chunks.ndjson': [
        { _id: 'a', n: 1 },
        { _id: 'a', n: 2 },
      ],
    });
    const only = (member: string, table: string) => new StagingImporter({ pg: db.pool, schema: s, tables: { [member]: table } });
    const cases = [
      [
        only('linksets.ndjson', 'linksets_raw'),
        'truncate',
        'its primary key is PRIMARY KEY (id, v), not on id alone, so duplicate ids would load unnoticed',
      ],
      [
        only('advisory_chunks.ndjson', 'advisory_chunks_raw'),
        'truncate',
        'its primary key is PRIMARY KEY (raw), not on id alone, so duplicate ids',
      ],
      [
        only('advisory_chunks.ndjson', 'advisory_chunks_raw'),
        'swap',
        "its primary key is PRIMARY KEY (raw), not on id alone, and the swapped-in table's would be on id, taking rows it refuses",
      ],
    ] as const;
    for (const [imp, strategy, difference] of cases) {
      for (const dryRun of [false, true]) {
        const e = (await imp.import(twice, { strategy, dryRun }))._unsafeUnwrapErr();
        expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
        expect(e.message).toContain(difference);
        expect(e.message).toContain(
          'Make id alone the primary key (drop the current one, then ADD PRIMARY KEY (id)), or import into another table.',
        );
      }
    }
    expect(await db.query(`SELECT id FROM ${s}.linksets_raw`)).toEqual([{ id: 'keep' }]);
    expect(await count(`${s}.advisory_chunks_raw`)).toBe(0);
    const keys = await db.query(
      `SELECT conrelid::regclass::text AS t, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = '${s}'::regnamespace AND contype = 'p' ORDER BY 1`,
    );
    expect(keys).toEqual([
      { t: `${s}.advisory_chunks_raw`, def: 'PRIMARY KEY (raw)' },
      { t: `${s}.linksets_raw`, def: 'PRIMARY KEY (id, v)' },
    ]);
  });

  it('swap refuses a table with row-level security (the swapped-in table would show every row); truncate keeps it', async () => {
    const s = 's_shape_rls';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    await db.query(
      `ALTER TABLE ${s}.linksets_raw ENABLE ROW LEVEL SECURITY; CREATE POLICY only_mine ON ${s}.linksets_raw USING (current_user = 'nobody')`,
    );
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain('row-level security');
    expect((await importer(s).import(good, { strategy: 'truncate' })).isOk()).toBe(true);
    expect(
      await db.query(
        `SELECT relrowsecurity AS rls, (SELECT count(*)::int FROM pg_policy WHERE polrelid = c.oid) AS policies FROM pg_class c WHERE oid = '${s}.linksets_raw'::regclass`,
      ),
    ).toEqual([{ rls: true, policies: 1 }]);
  });

  it('swap refuses a table a publication lists (it would stop publishing it); truncate keeps it listed', async () => {
    const s = 's_shape_pub';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`CREATE PUBLICATION s_shape_pub_p FOR TABLE ${s}.advisory_chunks_raw`);
    try {
      const published = () => db.query(`SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = 's_shape_pub_p'`);
      const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(`"${s}"."advisory_chunks_raw" does not fit a swap import: publication s_shape_pub_p lists it`);
      expect(e.message).toMatch(/Use strategy "truncate" .* Nothing was changed\.$/);
      expect(await published()).toEqual([{ schemaname: s, tablename: 'advisory_chunks_raw' }]);
      expect((await importer(s).import(good)).isOk()).toBe(true);
      expect(await published()).toEqual([{ schemaname: s, tablename: 'advisory_chunks_raw' }]);
    } finally {
      await db.query('DROP PUBLICATION s_shape_pub_p');
    }
  });

  it.for([
    { s: 's_shape_pub_schema', publication: (s: string) => `FOR TABLES IN SCHEMA ${s}` },
    { s: 's_shape_pub_all', publication: () => 'FOR ALL TABLES' },
  ])(
    'swap refuses a table a publication $s publishes with its whole schema or database (its subscribers would get the load as rows of the fresh table, which they do not have); truncate imports',
    async ({ s, publication }) => {
      expect((await importer(s).import(good)).isOk()).toBe(true);
      const pub = `${s}_p`;
      await db.query(`CREATE PUBLICATION ${pub} ${publication(s)}`);
      try {
        const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
        expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
        expect(e.message).toContain(`does not fit a swap import: publication ${pub} publishes every table of its database or schema`);
        expect(e.message).toMatch(/Use strategy "truncate" .* Nothing was changed\.$/);
        expect(await leftovers(s)).toEqual([]);
        expect(await count(`${s}.linksets_raw`)).toBe(340);
        expect((await importer(s).import(good)).isOk()).toBe(true);
      } finally {
        await db.query(`DROP PUBLICATION ${pub}`);
      }
    },
  );

  it('swap refuses a table a subscription replicates into (the swapped-in table would stop receiving its changes); truncate keeps it subscribed', async () => {
    const s = 's_shape_sub';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    // What a subscription that has synchronized the table records (a disabled one: no worker runs, no publisher is needed).
    await db.query(`CREATE SUBSCRIPTION s_shape_sub_s CONNECTION 'dbname=none' PUBLICATION p WITH (connect = false)`);
    try {
      await db.query(
        `INSERT INTO pg_subscription_rel (srsubid, srrelid, srsubstate, srsublsn)
         SELECT oid, '${s}.linksets_raw'::regclass, 'r', NULL FROM pg_subscription WHERE subname = 's_shape_sub_s'`,
      );
      const subscribed = () =>
        db.query(
          `SELECT r.srrelid::regclass::text AS tbl FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = 's_shape_sub_s'`,
        );
      const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(`"${s}"."linksets_raw" does not fit a swap import: subscription s_shape_sub_s replicates into it`);
      expect(await subscribed()).toEqual([{ tbl: `${s}.linksets_raw` }]);
      expect((await importer(s).import(good)).isOk()).toBe(true);
      expect(await subscribed()).toEqual([{ tbl: `${s}.linksets_raw` }]);
    } finally {
      await db.query('ALTER SUBSCRIPTION s_shape_sub_s SET (slot_name = NONE); DROP SUBSCRIPTION s_shape_sub_s');
    }
  });

  it('swap refuses a typed table (CREATE TABLE … OF a type) before loading; truncate keeps it typed', async () => {
    const s = 's_shape_typed';
    await db.query(
      `CREATE SCHEMA ${s}; CREATE TYPE ${s}.linkset AS (id text, raw jsonb); CREATE TABLE ${s}.linksets_raw OF ${s}.linkset (PRIMARY KEY (id))`,
    );
    await db.query(`INSERT INTO ${s}.linksets_raw VALUES ('old-1', '{}')`);
    const typed = () => db.query(`SELECT reloftype::regtype::text AS type FROM pg_class WHERE oid = '${s}.linksets_raw'::regclass`);
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain(`"${s}"."linksets_raw" does not fit a swap import: it is a typed table (OF ${s}.linkset)`);
    expect(e.partial?.tables.map((t) => t.loaded)).toEqual([0, 0]);
    expect(await count(`${s}.linksets_raw`)).toBe(1);
    expect(await leftovers(s)).toEqual([]);
    expect((await importer(s).import(good)).isOk()).toBe(true);
    expect(await typed()).toEqual([{ type: `${s}.linkset` }]);
    expect(await count(`${s}.linksets_raw`)).toBe(340);
  });

  it('swap refuses a table that belongs to an extension (the old table could never be dropped); truncate keeps it a member', async () => {
    const s = 's_shape_extension';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`ALTER EXTENSION plpgsql ADD TABLE ${s}.linksets_raw`);
    try {
      const members = () =>
        db.query(
          `SELECT c.relname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid JOIN pg_extension e ON e.oid = d.refobjid
            WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND e.extname = 'plpgsql' AND c.relnamespace = '${s}'::regnamespace`,
        );
      const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(`"${s}"."linksets_raw" does not fit a swap import: it belongs to extension plpgsql`);
      expect(e.message).toMatch(/Use strategy "truncate" .* Nothing was changed\.$/);
      expect(await members()).toEqual([{ relname: 'linksets_raw' }]);
      expect(await leftovers(s)).toEqual([]);
      // Another import into the schema is not stuck on an old table it cannot drop.
      expect((await importer(s).import(good)).isOk()).toBe(true);
      expect(await members()).toEqual([{ relname: 'linksets_raw' }]);
    } finally {
      await db.query(`ALTER EXTENSION plpgsql DROP TABLE ${s}.linksets_raw`);
    }
  });

  it('swap refuses a table with SECURITY LABELs, on it or a column (the swapped-in table would have none); truncate keeps them', async () => {
    const s = 's_shape_seclabel';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    // No label provider is loaded on a test server, so SECURITY LABEL itself is refused: write the rows it would
    // record (DROP TABLE removes them whatever their provider).
    await db.query(
      `INSERT INTO pg_seclabel (objoid, classoid, objsubid, provider, label)
       VALUES ('${s}.linksets_raw'::regclass, 'pg_class'::regclass, 0, 'selinux', 'system_u:object_r:sepgsql_table_t:s0'),
              ('${s}.linksets_raw'::regclass, 'pg_class'::regclass, 2, 'selinux', 'system_u:object_r:sepgsql_secret_table_t:s0')`,
    );
    const labels = () =>
      db.query(
        `SELECT objoid::regclass::text AS tbl, objsubid AS col, label FROM pg_seclabel WHERE classoid = 'pg_class'::regclass ORDER BY 2`,
      );
    const before = await labels();
    expect(before).toHaveLength(2);
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain(`"${s}"."linksets_raw" does not fit a swap import: it has a SECURITY LABEL from provider selinux, which`);
    expect(e.message).toContain('it has a SECURITY LABEL from provider selinux on column raw, which');
    expect(e.message).toMatch(/Use strategy "truncate" .* Nothing was changed\.$/);
    expect(e.partial?.tables.map((t) => t.loaded)).toEqual([0, 0]);
    expect(await leftovers(s)).toEqual([]);
    expect(await labels()).toEqual(before);
    expect((await importer(s).import(good)).isOk()).toBe(true);
    expect(await labels()).toEqual(before);
    await db.query(`DROP SCHEMA ${s} CASCADE`);
    expect(await labels()).toEqual([]);
  });

  it('swap refuses a table whose settings the swapped-in table would not have (UNLOGGED, REPLICA IDENTITY, a parent); truncate keeps them', async () => {
    const s = 's_shape_settings';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`CREATE TABLE ${s}.parent ()`);
    await db.query(`ALTER TABLE ${s}.linksets_raw SET UNLOGGED, REPLICA IDENTITY FULL, INHERIT ${s}.parent`);
    const settings = () =>
      db.query(
        `SELECT relpersistence AS p, relreplident AS r, (SELECT count(*)::int FROM pg_inherits WHERE inhrelid = c.oid) AS parents FROM pg_class c WHERE oid = '${s}.linksets_raw'::regclass`,
      );
    const before = await settings();
    expect(before).toEqual([{ p: 'u', r: 'f', parents: 1 }]);
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain(`it inherits from ${s}.parent, and the swapped-in table would not`);
    expect(e.message).toContain('it is UNLOGGED, and the swapped-in table would be logged');
    expect(e.message).toContain("its REPLICA IDENTITY is FULL, and the swapped-in table's would be the default (its primary key)");
    expect(await settings()).toEqual(before);
    expect((await importer(s).import(good)).isOk()).toBe(true);
    expect(await settings()).toEqual(before);
  });

  it("truncate keeps what the table's primary key carries: its comments, storage options, REPLICA IDENTITY USING INDEX and CLUSTER mark", async () => {
    const s = 's_shape_pk_extras';
    await createKeyWithExtras(db.query, s);
    await db.query(`ALTER TABLE ${s}.linksets_raw REPLICA IDENTITY USING INDEX linksets_key, CLUSTER ON linksets_key`);
    const key = () => primaryKeyExtras(db.query, `${s}.linksets_raw`);
    const before = await key();
    expect(before).toEqual([
      {
        conname: 'linksets_key',
        keyComment: 'ids as the feed spells them',
        indexComment: 'looked up by the scanner',
        relname: 'linksets_key',
        reloptions: ['fillfactor=70'],
        indisreplident: true,
        indisclustered: true,
      },
    ]);
    expect((await importer(s).import(good))._unsafeUnwrap().tables[0]?.loaded).toBe(340);
    expect(await key()).toEqual(before);
    expect((await importer(s).rollback()).isOk()).toBe(true);
    expect(await key()).toEqual(before);
  });

  it('truncate loads a table that is a partition, whose primary key comes from its parent', async () => {
    const s = 's_shape_partition';
    await db.query(
      `CREATE SCHEMA ${s}; CREATE TABLE ${s}.feed (id text PRIMARY KEY, raw jsonb NOT NULL) PARTITION BY LIST (id);
       CREATE TABLE ${s}.linksets_raw PARTITION OF ${s}.feed DEFAULT; INSERT INTO ${s}.feed VALUES ('old', '{}')`,
    );
    const report = (await importer(s).import(good))._unsafeUnwrap();
    expect(report.tables[0]?.loaded).toBe(340);
    expect(await count(`${s}.feed`)).toBe(340);
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid = '${s}.linksets_raw_pkey'::regclass`)).toEqual([
      { n: 1 },
    ]);
  });

  it('swap refuses an id or raw column whose collation or default the swapped-in table would not have; truncate keeps them', async () => {
    const s = 's_shape_columns';
    await db.query(
      `CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text COLLATE "C" PRIMARY KEY DEFAULT gen_random_uuid()::text, raw jsonb NOT NULL DEFAULT '{}')`,
    );
    const columns = () =>
      db.query(
        `SELECT attname, attcollation::regcollation::text AS coll, pg_get_expr(d.adbin, d.adrelid) AS def FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE attrelid = '${s}.linksets_raw'::regclass AND attnum > 0 ORDER BY attnum`,
      );
    const before = await columns();
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain(`column id has collation "C", and the swapped-in table's would compare with the database default`);
    expect(e.message).toContain(`column id has a default (or is generated), which the swapped-in table's would not have`);
    expect(e.message).toContain(`column raw has a default (or is generated), which the swapped-in table's would not have`);
    expect(await columns()).toEqual(before);
    expect((await importer(s).import(good)).isOk()).toBe(true);
    expect(await columns()).toEqual(before);
  });

  it('refuses a partitioned table or a view for both strategies and rollback(), saying what it is, and leaves its rows', async () => {
    const s = 's_shape_kind';
    await db.query(
      `CREATE SCHEMA ${s}; CREATE TABLE ${s}.feed (id text PRIMARY KEY, raw jsonb NOT NULL);
       CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL) PARTITION BY LIST (id);
       CREATE TABLE ${s}.linksets_rest PARTITION OF ${s}.linksets_raw DEFAULT;
       CREATE VIEW ${s}.advisory_chunks_raw AS SELECT * FROM ${s}.feed;
       INSERT INTO ${s}.linksets_raw VALUES ('kept', '{}'); INSERT INTO ${s}.feed VALUES ('kept', '{}')`,
    );
    const kinds = { linksets_raw: 'a partitioned table', advisory_chunks_raw: 'a view' };
    for (const [table, kind] of Object.entries(kinds)) {
      const one = new StagingImporter({ pg: db.pool, schema: s, tables: { 'x.ndjson': table } });
      const errors = [
        (await one.import(good, { strategy: 'truncate' }))._unsafeUnwrapErr(),
        (await one.import(good, { strategy: 'swap' }))._unsafeUnwrapErr(),
        (await one.rollback())._unsafeUnwrapErr(),
      ];
      for (const e of errors) {
        expect([e.code, e.message], table).toEqual(['TABLE_SHAPE_MISMATCH', expect.stringContaining(`it is ${kind}, not a plain table`)]);
        expect(e.message).toContain('Configure a plain table instead (for a partitioned table, one of its partitions).');
      }
    }
    expect([await count(`${s}.linksets_raw`), await count(`${s}.feed`)]).toEqual([1, 1]);
  });

  it('refuses a table other tables inherit from, for both strategies and rollback(), leaving them alone', async () => {
    const s = 's_shape_inherit';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`CREATE TABLE ${s}.linksets_raw_2023 () INHERITS (${s}.linksets_raw)`);
    await db.query(`INSERT INTO ${s}.linksets_raw_2023 SELECT 'archived-' || g, '{"archived": true}' FROM generate_series(1, 7) g`);
    const archived = () => count(`ONLY ${s}.linksets_raw_2023`);
    for (const strategy of ['truncate', 'swap'] as const) {
      for (const dryRun of [false, true]) {
        const e = (await importer(s).import(good, { strategy, dryRun }))._unsafeUnwrapErr();
        expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
        expect(e.message).toContain(
          `"${s}"."linksets_raw" does not fit a ${strategy} import: table ${s}.linksets_raw_2023 inherits from it`,
        );
        expect(e.message).toContain(`Detach the inheriting tables (ALTER TABLE ${s}.linksets_raw_2023 NO INHERIT …)`);
      }
    }
    const e = (await importer(s).rollback())._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toBe(
      `"${s}"."linksets_raw" cannot be emptied alone: table ${s}.linksets_raw_2023 inherits from it, and emptying it would empty that table too. Detach the inheriting tables (ALTER TABLE ${s}.linksets_raw_2023 NO INHERIT …), or import into a table nothing inherits from. Nothing was changed.`,
    );
    expect(await archived()).toBe(7);
    expect(await count(`ONLY ${s}.linksets_raw`)).toBe(340);
    expect(await count(`${s}.advisory_chunks_raw`)).toBe(1200);
  });

  it('truncate keeps extra columns that have a default or allow NULL, and refuses one it could not fill', async () => {
    const s = 's_shape_default';
    await db.query(
      `CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL, tenant text NOT NULL DEFAULT 'acme', note text)`,
    );
    const report = (await importer(s).import(good))._unsafeUnwrap();
    expect(report.tables[0]?.loaded).toBe(340);
    expect(await db.query(`SELECT tenant, count(*)::int AS n, count(note)::int AS notes FROM ${s}.linksets_raw GROUP BY tenant`)).toEqual([
      { tenant: 'acme', n: 340, notes: 0 },
    ]);
    await db.query(`ALTER TABLE ${s}.linksets_raw ADD COLUMN owner text NOT NULL DEFAULT 'x'`);
    await db.query(`ALTER TABLE ${s}.linksets_raw ALTER COLUMN owner DROP DEFAULT`);
    const e = (await importer(s).import(good))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain('column owner (text NOT NULL) has no default');
    expect(await count(`${s}.linksets_raw`)).toBe(340);
  });

  it.for([
    ['row-level security that applies to the importing role (FORCE ROW LEVEL SECURITY, as its owner)', 'rls'],
    ['a generated id column', 'generated'],
  ] as const)(
    'truncate and its dry run refuse, before emptying anything, a table PostgreSQL would refuse COPY into: %s',
    async ([, kind]) => {
      const s = `s_shape_copy_${kind}`;
      const role = `bk_shape_copy_${randomBytes(3).toString('hex')}`;
      const table = `${s}.linksets_raw`;
      if (kind === 'rls') {
        await db.query(`CREATE ROLE ${role}; GRANT CREATE ON DATABASE "${db.name}" TO ${role}; CREATE SCHEMA ${s} AUTHORIZATION ${role}; SET ROLE ${role};
        CREATE TABLE ${table} (id text PRIMARY KEY, raw jsonb NOT NULL); INSERT INTO ${table} VALUES ('old', '{"_id":"old"}');
        ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY; CREATE POLICY everyone ON ${table} USING (true) WITH CHECK (true);
        RESET ROLE`);
      } else {
        await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${table} (id text GENERATED ALWAYS AS (raw->>'_id') STORED PRIMARY KEY, raw jsonb NOT NULL);
        INSERT INTO ${table} (raw) VALUES ('{"_id":"old"}')`);
      }
      // The import's connections act as the table's owner, whom FORCE ROW LEVEL SECURITY subjects to its policies.
      const pool = new pg.Pool({ connectionString: db.url, max: 4, ...(kind === 'rls' ? { options: `-c role=${role}` } : {}) });
      try {
        for (const dryRun of [true, false]) {
          const e = (
            await new StagingImporter({ pg: pool, schema: s, tables: TABLES }).import(good, { strategy: 'truncate', dryRun })
          )._unsafeUnwrapErr();
          expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
          expect(e.message).toContain(
            kind === 'rls' ? 'row-level security applies to the importing role' : 'column id is generated, and the import writes it',
          );
        }
        expect(await db.query(`SELECT id FROM ${table}`)).toEqual([{ id: 'old' }]);
        // Where the policies do not apply (a superuser), the import loads.
        if (kind === 'rls') expect((await importer(s).import(good, { strategy: 'truncate' })).isOk()).toBe(true);
      } finally {
        await pool.end();
        if (kind === 'rls') await db.query(`DROP SCHEMA ${s} CASCADE; DROP OWNED BY ${role}; DROP ROLE ${role}`);
      }
    },
  );

  it.for([
    ['owns the tables', 'owner'],
    ['was granted INSERT, SELECT and TRUNCATE on them', 'grantee'],
  ] as const)(
    'truncate imports (and rollback() empties) tables that exist for a role that %s but may create nothing: no CREATE on the database or schema',
    async ([, kind]) => {
      const s = `s_least_${kind}`;
      const role = `bk_least_${randomBytes(3).toString('hex')}`;
      expect((await importer(s).import(good)).isOk()).toBe(true);
      await db.query(`CREATE ROLE ${role}; GRANT USAGE ON SCHEMA ${s} TO ${role}`);
      for (const t of ['linksets_raw', 'advisory_chunks_raw'])
        await db.query(
          kind === 'owner' ? `ALTER TABLE ${s}.${t} OWNER TO ${role}` : `GRANT INSERT, SELECT, TRUNCATE ON ${s}.${t} TO ${role}`,
        );
      const pool = new pg.Pool({ connectionString: db.url, max: 4, options: `-c role=${role}` });
      try {
        const small = await dataset(`least-${kind}.tar.zst`, {
          'linksets.ndjson': generateLinksets(3, 11),
          'advisory_chunks.ndjson': generateAdvisoryChunks(4, 12),
        });
        const as = new StagingImporter({ pg: pool, schema: s, tables: TABLES });
        const done = await as.import(small);
        expect(done.isOk() ? 'ok' : done.error.message).toBe('ok');
        expect([await count(`${s}.linksets_raw`), await count(`${s}.advisory_chunks_raw`)]).toEqual([3, 4]);
        expect(
          await db.query(`SELECT conname FROM pg_constraint WHERE conrelid = '${s}.linksets_raw'::regclass AND contype = 'p'`),
        ).toEqual([{ conname: 'linksets_raw_pkey' }]);
        expect((await as.rollback()).isOk()).toBe(true);
        expect([await count(`${s}.linksets_raw`), await count(`${s}.advisory_chunks_raw`)]).toEqual([0, 0]);
      } finally {
        await pool.end();
        await db.query(`DROP SCHEMA ${s} CASCADE; DROP OWNED BY ${role}; DROP ROLE ${role}`);
      }
    },
  );

  it.for([
    ['that was granted INSERT, SELECT and TRUNCATE but may not create in the schema', 'grantee'],
    ['that is a member of the owner, who may not create in the schema', 'member'],
  ] as const)('swap (and its dry run) refuses up front, saying what to grant, a role %s; nothing changes', async ([, kind]) => {
    const s = `s_swap_access_${kind}`;
    const role = `bk_swap_access_${randomBytes(3).toString('hex')}`;
    const owner = `${role}_owner`;
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`CREATE ROLE ${role}; CREATE ROLE ${owner}; GRANT USAGE ON SCHEMA ${s} TO ${role}, ${owner}`);
    if (kind === 'member') await db.query(`GRANT ${owner} TO ${role}; GRANT CREATE ON SCHEMA ${s} TO ${role}`);
    for (const t of ['linksets_raw', 'advisory_chunks_raw'])
      await db.query(`ALTER TABLE ${s}.${t} OWNER TO ${owner}; GRANT INSERT, SELECT, TRUNCATE ON ${s}.${t} TO ${role}`);
    const pool = new pg.Pool({ connectionString: db.url, max: 4, options: `-c role=${role}` });
    try {
      const ownerCreates = `CREATE on schema ${s} for ${owner} (GRANT CREATE ON SCHEMA ${s} TO ${owner})`;
      const needs =
        kind === 'grantee'
          ? [
              `CREATE on schema ${s} (GRANT CREATE ON SCHEMA ${s} TO ${role})`,
              `membership in its owner ${owner} (GRANT ${owner} TO ${role})`,
              ownerCreates,
            ]
          : [ownerCreates];
      for (const dryRun of [true, false]) {
        const e = (
          await new StagingImporter({ pg: pool, schema: s, tables: TABLES }).import(good, { strategy: 'swap', dryRun })
        )._unsafeUnwrapErr();
        expect(e.code).toBe('DB_ERROR');
        expect(e.dbCode).toBe('42501');
        expect(e.message).toContain(`role ${role} cannot swap ${s}.linksets_raw: a swap makes a new table beside it`);
        expect(e.message).toContain(`which needs ${needs.join(' and ')}.`);
        expect(e.message).toMatch(
          /or use strategy "truncate", which needs only SELECT, INSERT and TRUNCATE on the table\. Nothing was changed\.$/,
        );
      }
      expect(await leftovers(s)).toEqual([]);
      expect([await count(`${s}.linksets_raw`), await count(`${s}.advisory_chunks_raw`)]).toEqual([340, 1200]);
      expect((await new StagingImporter({ pg: pool, schema: s, tables: TABLES }).import(good)).isOk()).toBe(true);
    } finally {
      await pool.end();
      await db.query(`DROP SCHEMA ${s} CASCADE; DROP OWNED BY ${role}, ${owner}; DROP ROLE ${role}; DROP ROLE ${owner}`);
    }
  });

  it('refuses an id column of another type under both strategies, naming the types', async () => {
    const s = 's_shape_int';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id integer PRIMARY KEY, raw jsonb NOT NULL)`);
    await db.query(`INSERT INTO ${s}.linksets_raw VALUES (7, '{}')`);
    for (const strategy of ['swap', 'truncate'] as const) {
      const e = (await importer(s).import(good, { strategy }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain('column id is integer, but the import stores text');
    }
    expect(
      await db.query(
        `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = '${s}.linksets_raw'::regclass AND attname = 'id'`,
      ),
    ).toEqual([{ t: 'integer' }]);
    expect(await count(`${s}.linksets_raw`)).toBe(1);
  });
});

describe('names in upper case', () => {
  it('refuses a schema or table that does not exist while its lower-case fold does, creating nothing', async () => {
    const s = 's_case';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    const schemas = () => db.query(`SELECT nspname FROM pg_namespace WHERE lower(nspname) LIKE 's\\_case%' ORDER BY 1`);
    for (const strategy of ['truncate', 'swap'] as const) {
      const e = (await importer('S_CASE').import(good, { strategy }))._unsafeUnwrapErr();
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toContain('S_CASE does not exist, but s_case does');
      expect(e.message).toContain('Did you mean s_case?');
      const t = new StagingImporter({ pg: db.pool, schema: s, tables: { 'linksets.ndjson': 'LINKSETS_RAW' } });
      expect((await t.import(good, { strategy }))._unsafeUnwrapErr().message).toContain(
        's_case.LINKSETS_RAW does not exist, but s_case.linksets_raw does',
      );
    }
    expect(await schemas()).toEqual([{ nspname: 's_case' }]);
    expect(await count(`${s}.linksets_raw`)).toBe(340);
    // A mixed-case name with no lower-case twin is the user's to choose.
    expect((await importer('S_Case_New').import(good)).isOk()).toBe(true);
    expect(await schemas()).toEqual([{ nspname: 'S_Case_New' }, { nspname: 's_case' }]);
  });
});

describe('foreign keys (truncate)', () => {
  async function referenced(s: string, onDelete = 'NO ACTION'): Promise<void> {
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`CREATE TABLE ${s}.notes (n int, linkset text REFERENCES ${s}.linksets_raw (id) ON DELETE ${onDelete})`);
  }

  it('loads a table another table references, when no row points at it, and rollback() empties it', async () => {
    const s = 's_fk_empty';
    await referenced(s);
    const report = (await importer(s).import(good))._unsafeUnwrap();
    expect(report.tables.map((t) => t.loaded)).toEqual([340, 1200]);
    expect(await count(`${s}.linksets_raw`)).toBe(340);
    // Rows pointing at ids the new contents have are fine: the rows are replaced, the ids stay.
    const [{ id }] = (await db.query<{ id: string }>(`SELECT min(id) AS id FROM ${s}.linksets_raw`)) as [{ id: string }];
    await db.query(`INSERT INTO ${s}.notes VALUES (1, $1)`, [id]);
    expect((await importer(s).rollback())._unsafeUnwrapErr().code).toBe('TABLE_REFERENCED');
    await db.query(`DELETE FROM ${s}.notes`);
    (await importer(s).rollback())._unsafeUnwrap();
    expect((await importer(s).counts())._unsafeUnwrap()).toEqual({ linksets_raw: 0, advisory_chunks_raw: 0 });
  });

  it('fails with TABLE_REFERENCED naming the constraint when rows still point at the old rows, and changes nothing', async () => {
    const s = 's_fk_rows';
    await referenced(s);
    await db.query(`INSERT INTO ${s}.linksets_raw VALUES ('only-old', '{}')`);
    await db.query(`INSERT INTO ${s}.notes VALUES (1, 'only-old')`);
    const e = (await importer(s).import(good))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_REFERENCED');
    expect(e.context.constraint).toBe('notes_linkset_fkey');
    expect(e.message).toContain('notes_linkset_fkey');
    expect(await count(`${s}.linksets_raw`)).toBe(341);
    expect(await count(`${s}.notes`)).toBe(1);
  });

  it('a deferred key is checked at COMMIT: rows pointing at ids the new contents bring back stay valid', async () => {
    const s = 's_fk_deferred';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`CREATE TABLE ${s}.notes (n int, linkset text REFERENCES ${s}.linksets_raw (id) DEFERRABLE INITIALLY DEFERRED)`);
    const [{ id }] = (await db.query<{ id: string }>(`SELECT min(id) AS id FROM ${s}.linksets_raw`)) as [{ id: string }];
    await db.query(`INSERT INTO ${s}.notes VALUES (1, $1)`, [id]);
    expect((await importer(s).import(good))._unsafeUnwrap().committed).toBe(true);
    await db.query(`INSERT INTO ${s}.linksets_raw VALUES ('gone-next', '{}')`);
    await db.query(`INSERT INTO ${s}.notes VALUES (2, 'gone-next')`);
    const e = (await importer(s).import(good))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_REFERENCED');
    expect(e.context.constraint).toBe('notes_linkset_fkey');
    expect(await count(`${s}.linksets_raw`)).toBe(341);
  });

  it.for([
    ['a DEFERRABLE INITIALLY DEFERRED foreign key of its own', 'fk'],
    ['a constraint trigger deferred to COMMIT', 'trigger'],
  ] as const)('truncate loads a table with %s (the COPY leaves its events pending until COMMIT)', async ([, kind]) => {
    const s = `s_deferred_${kind}`;
    expect((await importer(s).import(good)).isOk()).toBe(true);
    if (kind === 'fk') {
      await db.query(`CREATE TABLE ${s}.owners (name text PRIMARY KEY); INSERT INTO ${s}.owners VALUES ('team');
        ALTER TABLE ${s}.linksets_raw ADD COLUMN owner text DEFAULT 'team' REFERENCES ${s}.owners (name) DEFERRABLE INITIALLY DEFERRED`);
    } else {
      await db.query(`CREATE TABLE ${s}.seen (id text); CREATE FUNCTION ${s}.note() RETURNS trigger LANGUAGE plpgsql AS
          $$BEGIN INSERT INTO ${s}.seen VALUES (NEW.id); RETURN NULL; END$$;
        CREATE CONSTRAINT TRIGGER note AFTER INSERT ON ${s}.linksets_raw DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${s}.note()`);
    }
    const done = await importer(s).import(good);
    expect(done.isOk() ? 'ok' : done.error.message).toBe('ok');
    expect(await count(`${s}.linksets_raw`)).toBe(340);
    if (kind === 'trigger') expect(await count(`${s}.seen`)).toBe(340);
    expect(await db.query(`SELECT conname FROM pg_constraint WHERE conrelid = '${s}.linksets_raw'::regclass AND contype = 'p'`)).toEqual([
      { conname: 'linksets_raw_pkey' },
    ]);
  });

  it('truncate into a table whose primary key is itself DEFERRABLE INITIALLY DEFERRED still names the lines of a duplicate id', async () => {
    const s = 's_deferred_key';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    await db.query(`ALTER TABLE ${s}.linksets_raw DROP CONSTRAINT linksets_raw_pkey;
      ALTER TABLE ${s}.linksets_raw ADD CONSTRAINT linksets_raw_pkey PRIMARY KEY (id) DEFERRABLE INITIALLY DEFERRED`);
    const twice = await dataset('deferred-key-dup.tar.zst', {
      'linksets.ndjson': [{ _id: 'a' }, { _id: 'b' }, { _id: 'a' }],
      'advisory_chunks.ndjson': [{ _id: 'c' }],
    });
    const e = (await importer(s).import(twice))._unsafeUnwrapErr();
    expect(e.code).toBe('DUPLICATE_ID');
    expect(e.message).toBe('linksets.ndjson: id "a" appears on lines 1 and 3; remove one of them. Nothing was committed.');
    expect(await count(`${s}.linksets_raw`)).toBe(340);
  });

  it('refuses up front a key whose ON DELETE action would change the other table', async () => {
    const s = 's_fk_cascade';
    await referenced(s, 'CASCADE');
    const [{ id }] = (await db.query<{ id: string }>(`SELECT min(id) AS id FROM ${s}.linksets_raw`)) as [{ id: string }];
    await db.query(`INSERT INTO ${s}.notes VALUES (1, $1)`, [id]);
    const e = (await importer(s).import(good))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_REFERENCED');
    expect(e.message).toContain(`constraint notes_linkset_fkey on ${s}.notes references`);
    expect(e.message).toContain('ON DELETE CASCADE');
    expect(await count(`${s}.notes`)).toBe(1);
  });
});

describe('id length', () => {
  it('rejects an id longer than the primary key can index, with its line, and loads one at the limit', async () => {
    const limit = 2692;
    const path = await dataset('long-ids.tar.zst', {
      'linksets.ndjson': [{ _id: 'a' }, { _id: incompressible(limit) }, { _id: incompressible(limit + 1) }, { _id: 'd' }],
      'advisory_chunks.ndjson': [{ _id: 'c' }],
    });
    for (const strategy of ['truncate', 'swap'] as const) {
      const s = `s_long_${strategy}`;
      const e = (await importer(s).import(path, { strategy }))._unsafeUnwrapErr();
      expect(e.code).toBe('ID_TOO_LONG');
      expect(e.message).toContain(`linksets.ndjson line 3: the id is ${limit + 1} bytes`);
      expect(e.context).toMatchObject({ member: 'linksets.ndjson', line: 3, limit });
      const rejectPath = join(dir, `long-${strategy}.rejects.ndjson`);
      const report = (await importer(s).import(path, { strategy, onInvalid: 'reject', rejectPath }))._unsafeUnwrap();
      expect(report.tables[0]).toMatchObject({ loaded: 3, rejected: 1, ok: true });
    }
  });
});

describe('lock timeouts and missing tables', () => {
  it('LOCK_TIMEOUT names the table, the blocking session and the fix, for imports of both strategies and rollback()', async () => {
    const s = 's_lock';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    const holder = new pg.Client({ connectionString: withApplicationName(db.url, 'bk_lock_holder') });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT count(*) FROM ${s}.linksets_raw`);
      const [{ pid }] = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
      const imp = importer(s, { lockTimeoutMs: 150 });
      const failures = [];
      for (const strategy of ['truncate', 'swap'] as StagingStrategy[])
        failures.push((await imp.import(good, { strategy }))._unsafeUnwrapErr());
      failures.push((await imp.rollback())._unsafeUnwrapErr());
      for (const e of failures) {
        expect(e.code).toBe('LOCK_TIMEOUT');
        expect(e.message).toContain(`could not lock ${s}.linksets_raw within lockTimeoutMs=150 ms`);
        expect(e.message).toContain(`session ${pid} (application_name "bk_lock_holder", state "idle in transaction", AccessShareLock)`);
        expect(e.message).toContain('raise lockTimeoutMs (--lock-timeout-ms)');
        expect(e.context.blockers).toEqual([
          { pid, applicationName: 'bk_lock_holder', state: 'idle in transaction', mode: 'AccessShareLock', table: `${s}.linksets_raw` },
        ]);
      }
    } finally {
      await holder.end();
    }
    expect(await count(`${s}.linksets_raw`)).toBe(340);
  });

  it('counts() and rollback() say TABLE_NOT_FOUND ("nothing staged yet") for a missing schema and a missing table alike', async () => {
    await db.query('CREATE SCHEMA s_half; CREATE TABLE s_half.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL)');
    for (const s of ['s_never', 's_half']) {
      for (const e of [(await importer(s).counts())._unsafeUnwrapErr(), (await importer(s).rollback())._unsafeUnwrapErr()]) {
        expect(e.code).toBe('TABLE_NOT_FOUND');
        expect(e.message).toMatch(/^nothing is staged yet: .* Run an import first\.$/);
      }
    }
  });
});

describe('swap loads tables side by side, still all or nothing', () => {
  it('each table is loaded and committed on a connection of its own before the one swap transaction', async () => {
    const s = 's_parallel';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    let fresh: number | undefined;
    const report = await importer(s).import(good, {
      strategy: 'swap',
      onProgress: (p) => {
        // At verify time both fresh tables are already committed, so another
        // connection sees them. psql runs synchronously: the import cannot
        // reach its swap before the answer is in.
        if (p.phase === 'verify') {
          const sql = `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${s}' AND c.relname LIKE '\\_bk\\_stage\\_%' AND c.relkind = 'r'`;
          fresh = Number(execFileSync('psql', ['-tA', db.url, '-c', sql], { encoding: 'utf8' }).trim());
        }
      },
    });
    expect(report._unsafeUnwrap().committed).toBe(true);
    expect(fresh).toBe(2);
    expect(await leftovers(s)).toEqual([]);
  });

  it('loads one table after another when the pool cannot lend a connection per table (its caller holds one), instead of waiting forever', async () => {
    const s = 's_pool_busy';
    expect((await importer(s).import(good)).isOk()).toBe(true);
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const held = await pool.connect();
    try {
      const swap = importer(s, { pg: pool }).import(good, { strategy: 'swap' });
      const outcome = await Promise.race([
        swap.then((r) => (r.isOk() ? 'swapped' : r.error.code)),
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 20 s'), 20_000)),
      ]);
      expect(outcome).toBe('swapped');
      expect(await count(`${s}.advisory_chunks_raw`)).toBe(1200);
      expect(await leftovers(s)).toEqual([]);
    } finally {
      held.release();
      await pool.end();
    }
  }, 60_000);

  it("a load that outlasts the server's idle_in_transaction_session_timeout still swaps: the session waiting for its loaders is not ended", async () => {
    const s = 's_parallel_idle';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    const url = new URL(db.url);
    url.searchParams.set('options', '-c idle_in_transaction_session_timeout=500');
    const target = new PgStagingTarget({ pg: url.toString(), schema: s, tables: ['linksets_raw'] });
    const session = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] }))._unsafeUnwrap();
    try {
      async function* slow(): AsyncGenerator<StagingRow[]> {
        for (let i = 0; i < 3; i++) {
          await new Promise((r) => setTimeout(r, 600));
          yield [{ id: `new-${i}`, raw: `{"_id":"new-${i}"}` }];
        }
      }
      expect((await session.load('linksets_raw', slow()))._unsafeUnwrap()).toBe(3);
      expect((await session.count('linksets_raw'))._unsafeUnwrap()).toBe(3);
      expect((await session.commit()).isOk()).toBe(true);
    } finally {
      await session.abort();
      await target.close();
    }
    expect(await count(`${s}.linksets_raw`)).toBe(3);
    expect(await leftovers(s)).toEqual([]);
  });

  it('drops the fresh tables its loaders committed even when the import’s own connection was lost', async () => {
    const s = 's_parallel_lost';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    const target = new PgStagingTarget({ pg: withApplicationName(db.url, 'bk-lost-session'), schema: s, tables: ['linksets_raw'] });
    const session = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] }))._unsafeUnwrap();
    try {
      async function* rows(): AsyncGenerator<StagingRow[]> {
        yield [{ id: 'new-1', raw: '{"_id":"new-1"}' }];
      }
      expect((await session.load('linksets_raw', rows()))._unsafeUnwrap()).toBe(1);
      expect(await leftovers(s)).toHaveLength(2); // the committed fresh table and its key
      // The session's connection (idle in its transaction) dies; the loader's is back in the pool.
      await db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bk-lost-session' AND state = 'idle in transaction'",
      );
      expect((await session.count('linksets_raw')).isErr()).toBe(true);
    } finally {
      await session.abort();
      await target.close();
    }
    expect(await leftovers(s)).toEqual([]);
    expect(await count(`${s}.linksets_raw`)).toBe(340);
  });

  it('a failure in one member’s load leaves every table’s old contents and no fresh table behind', async () => {
    const s = 's_parallel_fail';
    expect((await importer(s).import(good, { strategy: 'swap' })).isOk()).toBe(true);
    const before = [await count(`${s}.linksets_raw`), await count(`${s}.advisory_chunks_raw`)];
    await db.query(`INSERT INTO ${s}.linksets_raw VALUES ('old-row', '{}')`);
    const chunks = [...generateAdvisoryChunks(300, 5)];
    const failing = {
      // The second member fails: once on the server (a duplicate id found by the primary key), once in the reader (an overlong id).
      duplicate: await dataset('par-dup.tar.zst', {
        'linksets.ndjson': generateLinksets(500, 9),
        'advisory_chunks.ndjson': [...chunks, chunks[10]!],
      }),
      tooLong: await dataset('par-long.tar.zst', {
        'linksets.ndjson': generateLinksets(500, 9),
        'advisory_chunks.ndjson': [...chunks, { _id: 'x'.repeat(3000) }],
      }),
    };
    for (const [what, path] of Object.entries(failing)) {
      const e = (await importer(s).import(path, { strategy: 'swap', batchBytes: 8 * 1024 }))._unsafeUnwrapErr();
      expect(e.code, what).toBe(what === 'duplicate' ? 'DUPLICATE_ID' : 'ID_TOO_LONG');
      expect(e.context.member).toBe('advisory_chunks.ndjson');
      expect([await count(`${s}.linksets_raw`), await count(`${s}.advisory_chunks_raw`)]).toEqual([before[0]! + 1, before[1]]);
      expect(await leftovers(s)).toEqual([]);
    }
  });
});

describe('a lost connection', () => {
  it.for([
    ['during the load', 'BEFORE INSERT', 'FOR EACH ROW', 'nothing was committed and the tables keep what they held'],
    ['while COMMIT is in flight', 'AFTER INSERT', 'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW', 'the import may or may not have committed'],
  ] as const)('says what it left when the connection is lost %s', async ([, when, deferral, outcome]) => {
    const s = `s_lost_${when === 'BEFORE INSERT' ? 'load' : 'commit'}`;
    expect((await importer(s).import(good)).isOk()).toBe(true);
    // The importing session ends itself: at its first row, or at COMMIT (a deferred constraint trigger).
    await db.query(`CREATE FUNCTION ${s}.end_me() RETURNS trigger LANGUAGE plpgsql AS
      $$BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1); RETURN NEW; END$$;
      CREATE ${when === 'AFTER INSERT' ? 'CONSTRAINT ' : ''}TRIGGER end_me ${when} ON ${s}.linksets_raw ${deferral} EXECUTE FUNCTION ${s}.end_me()`);
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    pool.on('error', () => undefined);
    try {
      const e = (await new StagingImporter({ pg: pool, schema: s, tables: TABLES }).import(good))._unsafeUnwrapErr();
      expect(e.code, e.message).toBe('DB_CONNECTION');
      expect(e.message).toContain(outcome);
      expect(e.message).toMatch(/import again/);
    } finally {
      await pool.end();
    }
    expect(await count(`${s}.advisory_chunks_raw`)).toBe(1200);
  });
});
