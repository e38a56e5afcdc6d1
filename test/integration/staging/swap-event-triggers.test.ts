/**
 * A swap makes its fresh tables with `CREATE TABLE` and shapes them with
 * `ALTER TABLE`, so the database's event triggers run on them: one that
 * enables row-level security on every new table (a common hardening step),
 * or gives each one an audit trigger, changes the fresh table as it is made.
 * The swapped-in table must still be shaped like the live one, or the swap
 * must be refused with nothing changed: never a table that hides every row
 * from its readers, nor a load that fires a trigger the live table does not
 * have. Event triggers are per database, so each test has a database of its own.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, onServer, type TestDatabase } from '../../support/pg.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { handTarball, ndjson, scratch } from './fixtures.js';

const reader = `bk_evt_reader_${randomBytes(3).toString('hex')}`;
let dataset: string;

beforeAll(async () => {
  await onServer(`CREATE ROLE ${reader}`);
  dataset = handTarball(scratch('bk-swap-evt-'), 'new.tar.zst', [
    { name: 'linksets.ndjson', text: ndjson([{ _id: 'new-1' }, { _id: 'new-2' }]) },
  ]);
});
afterAll(async () => {
  await onServer(`DROP ROLE IF EXISTS ${reader}`);
});

/** A database of its own with `s.linksets_raw` holding one old row, readable by the reader role. */
async function databaseWithLiveTable(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  await db.query(`CREATE SCHEMA s; CREATE TABLE s.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL);
    INSERT INTO s.linksets_raw VALUES ('old-1', '{"_id":"old-1"}');
    GRANT USAGE ON SCHEMA s TO ${reader}; GRANT SELECT ON s.linksets_raw TO ${reader}`);
  return db;
}

async function swapImport(db: TestDatabase) {
  return new StagingImporter({ pg: db.pool, schema: 's', tables: { 'linksets.ndjson': 'linksets_raw' } }).import(dataset, {
    strategy: 'swap',
  });
}

/** What the reader role sees of the live table, and whether it has row-level security. */
async function asReader(db: TestDatabase): Promise<{ ids: string[]; rowSecurity: boolean }> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE ${reader}`);
    const ids = (await client.query<{ id: string }>('SELECT id FROM s.linksets_raw ORDER BY id')).rows.map((r) => r.id);
    await client.query('ROLLBACK');
    const [row] = (
      await client.query<{ rls: boolean }>(`SELECT relrowsecurity AS rls FROM pg_class WHERE oid = 's.linksets_raw'::regclass`)
    ).rows;
    return { ids, rowSecurity: row!.rls };
  } finally {
    client.release();
  }
}

async function stagingTables(db: TestDatabase): Promise<string[]> {
  const rows = await db.query<{ relname: string }>(`SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%' ORDER BY 1`);
  return rows.map((r) => r.relname);
}

/**
 * A database of its own ({@link databaseWithLiveTable}) with an event trigger
 * that runs `action` (a `format` string given the object's identity) on each
 * object of a `tag` command matching `where` (over `pg_event_trigger_ddl_commands()`).
 */
async function withEventTrigger(tag: 'CREATE TABLE' | 'ALTER TABLE', where: string, action: string): Promise<TestDatabase> {
  const db = await databaseWithLiveTable();
  await db.query(`CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
      FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = '${tag}' AND ${where} LOOP
        EXECUTE format('${action}', r.object_identity);
      END LOOP;
    END $$;
    CREATE EVENT TRIGGER on_ddl ON ddl_command_end WHEN TAG IN ('${tag}') EXECUTE FUNCTION public.on_ddl()`);
  return db;
}

/** Imports the dataset with a swap and expects it refused with `TABLE_SHAPE_MISMATCH`, its message matching `message`; then no staging table is left. */
async function expectRefused(db: TestDatabase, message: RegExp): Promise<void> {
  const imported = await swapImport(db);
  expect(imported.isErr() && imported.error.code).toBe('TABLE_SHAPE_MISMATCH');
  expect(imported.isErr() && imported.error.message).toMatch(message);
  expect(imported.isErr() && imported.error.message).toMatch(/event trigger/);
  expect(await stagingTables(db)).toEqual([]);
}

describe('a swap and the database’s event triggers', () => {
  it('one that enables row-level security on every new table: the swap is refused before loading, readers still see every row', async () => {
    const db = await withEventTrigger('CREATE TABLE', 'true', 'ALTER TABLE %s ENABLE ROW LEVEL SECURITY');
    try {
      // Before: the import committed a table with row-level security and no policy, which showed its reader no row at all.
      await expectRefused(db, /row-level security \(enabled, or a policy\) as it was made/);
      expect(await asReader(db)).toEqual({ ids: ['old-1'], rowSecurity: false });
    } finally {
      await db.drop();
    }
  });

  it('one that gives every new table an audit trigger: the swap is refused before the load fires it', async () => {
    const db = await withEventTrigger(
      'CREATE TABLE',
      "schema_name = 's'",
      'CREATE TRIGGER audit_row AFTER INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.audit_row()',
    );
    try {
      await db.query(`CREATE TABLE public.audit (tbl text, id text);
        CREATE FUNCTION public.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.audit VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END $$`);
      // Before: the load fired the trigger for every row, and the swapped-in table kept a trigger the live table never had.
      await expectRefused(db, /trigger audit_row as it was made/);
      expect(await db.query('SELECT * FROM public.audit')).toEqual([]);
      expect(await db.query('SELECT id FROM s.linksets_raw')).toEqual([{ id: 'old-1' }]);
      expect(await db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 's.linksets_raw'::regclass`)).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  it('one that enables row-level security once a new table gets its primary key (after the load): the swap fails under its lock, nothing changed', async () => {
    const db = await withEventTrigger(
      'ALTER TABLE',
      `object_type = 'table'
         AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = objid AND NOT c.relrowsecurity AND c.relname LIKE '\\_bk\\_stage\\_%')
         AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = objid AND k.contype = 'p')`,
      'ALTER TABLE %s ENABLE ROW LEVEL SECURITY',
    );
    try {
      // Before: the fresh table passed every check as it was made, and was swapped in with row-level security.
      await expectRefused(db, /row-level security \(enabled, or a policy\) while it was built/);
      expect(await asReader(db)).toEqual({ ids: ['old-1'], rowSecurity: false });
    } finally {
      await db.drop();
    }
  });
});
