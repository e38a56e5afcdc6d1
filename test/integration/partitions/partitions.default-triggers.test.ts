/**
 * Moving rows out of the default partition (ensure or attach making a slot the default holds rows for)
 * is a move inside the table, not a user's DELETE and INSERT: the users' row and statement triggers on
 * the table must not fire for it (an audit log would record deletions that never happened, a BEFORE
 * INSERT trigger would rewrite the rows), and must be exactly as they were afterwards.
 */
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { rowHomes, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const NOW = new Date('2026-11-15T08:00:00Z');
const manager = (): PartitionManager =>
  new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW });

/** Every user trigger of the schema's tables, and whether it is enabled. */
async function triggerStates(): Promise<Record<string, string>> {
  const rows = await db.query<{ k: string; s: string }>(
    `SELECT tgrelid::regclass::text || ' ' || tgname AS k, tgenabled::text AS s FROM pg_trigger
     WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'scanner.%' ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.k, r.s]));
}

async function audit(): Promise<string[]> {
  return (await db.query<{ e: string }>('SELECT e FROM scanner.audit ORDER BY n')).map((r) => r.e);
}

beforeEach(async () => {
  await db.query(`
    CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
    CREATE TABLE scanner.audit (n bigserial PRIMARY KEY, e text NOT NULL);
    CREATE FUNCTION scanner.log_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO scanner.audit (e) VALUES (TG_WHEN || ' ' || TG_OP || ' ' || TG_LEVEL || ' on ' || TG_TABLE_NAME);
      IF TG_LEVEL = 'STATEMENT' THEN RETURN NULL; END IF;
      IF TG_OP = 'INSERT' THEN NEW.payload_digest := 'rewritten by a trigger'; RETURN NEW; END IF;
      RETURN OLD;
    END $$;
    CREATE TRIGGER audit_rows AFTER INSERT OR DELETE ON scanner.artifact_boms FOR EACH ROW EXECUTE FUNCTION scanner.log_row();
    CREATE TRIGGER stamp_rows BEFORE INSERT ON scanner.artifact_boms FOR EACH ROW EXECUTE FUNCTION scanner.log_row();
    CREATE TRIGGER default_deletes BEFORE DELETE ON scanner.artifact_boms_default FOR EACH ROW EXECUTE FUNCTION scanner.log_row();
    CREATE TRIGGER default_statements AFTER DELETE ON scanner.artifact_boms_default FOR EACH STATEMENT EXECUTE FUNCTION scanner.log_row();
    CREATE TRIGGER always_on AFTER DELETE ON scanner.artifact_boms_default FOR EACH ROW EXECUTE FUNCTION scanner.log_row();
    ALTER TABLE scanner.artifact_boms_default ENABLE ALWAYS TRIGGER always_on;
    CREATE TRIGGER replica_only AFTER DELETE ON scanner.artifact_boms_default FOR EACH ROW EXECUTE FUNCTION scanner.log_row();
    ALTER TABLE scanner.artifact_boms_default ENABLE REPLICA TRIGGER replica_only;
    CREATE TRIGGER switched_off AFTER DELETE ON scanner.artifact_boms_default FOR EACH ROW EXECUTE FUNCTION scanner.log_row();
    ALTER TABLE scanner.artifact_boms_default DISABLE TRIGGER switched_off;
    INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, payload_digest, inserted_at) VALUES
      ('nov-1', 'sha', 'original', '2026-11-02 10:00:00+00'),
      ('dec-1', 'sha', 'original', '2026-12-24 10:00:00+00');
    UPDATE scanner.artifact_boms SET payload_digest = 'original';
    TRUNCATE scanner.audit;`);
});

describe('moving rows out of the default partition', () => {
  it('ensure moves them without firing any user trigger, and leaves every trigger as it was', async () => {
    const before = await triggerStates();
    const r = (await manager().ensure({ ahead: 1 }))._unsafeUnwrap();
    expect(r.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([
      ['artifact_boms_2026_11', 1],
      ['artifact_boms_2026_12', 1],
    ]);
    expect(await audit()).toEqual([]);
    expect(await rowHomes(db)).toEqual({ 'dec-1': 'scanner.artifact_boms_2026_12', 'nov-1': 'scanner.artifact_boms_2026_11' });
    const digests = await db.query<{ d: string }>('SELECT DISTINCT payload_digest AS d FROM scanner.artifact_boms');
    expect(digests).toEqual([{ d: 'original' }]);
    const after = await triggerStates();
    expect(after).toEqual({
      ...before,
      'scanner.artifact_boms_2026_11 audit_rows': 'O',
      'scanner.artifact_boms_2026_11 stamp_rows': 'O',
      'scanner.artifact_boms_2026_12 audit_rows': 'O',
      'scanner.artifact_boms_2026_12 stamp_rows': 'O',
    });
    // The users' own writes still fire them.
    await db.query(`INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES ('dec-2', 'sha', '2026-12-25 00:00:00+00');
      DELETE FROM scanner.artifact_boms WHERE build_id = 'dec-2'`);
    expect(await audit()).toEqual([
      'BEFORE INSERT ROW on artifact_boms_2026_12',
      'AFTER INSERT ROW on artifact_boms_2026_12',
      'AFTER DELETE ROW on artifact_boms_2026_12',
    ]);
  });

  it('attach moves them into the restored table without firing any user trigger, its own included', async () => {
    (await manager().ensure({ ahead: 1 }))._unsafeUnwrap();
    await db.query(`
      CREATE TABLE scanner.artifact_boms_2026_10 (build_id text NOT NULL, canonical_bom_sha256 text NOT NULL, payload_digest text, inserted_at timestamptz NOT NULL);
      INSERT INTO scanner.artifact_boms_2026_10 VALUES ('oct-1', 'sha', 'original', '2026-10-01 00:00:00+00');
      CREATE TRIGGER restored_inserts BEFORE INSERT ON scanner.artifact_boms_2026_10 FOR EACH ROW EXECUTE FUNCTION scanner.log_row();
      INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, payload_digest, inserted_at) VALUES ('oct-2', 'sha', 'x', '2026-10-20 00:00:00+00');
      UPDATE scanner.artifact_boms SET payload_digest = 'original';
      TRUNCATE scanner.audit;`);
    const before = await triggerStates();
    const r = (await manager().attach('scanner.artifact_boms_2026_10'))._unsafeUnwrap();
    expect(r.rowsMovedFromDefault).toBe(1);
    expect(await audit()).toEqual([]);
    expect((await rowHomes(db))['oct-2']).toBe('scanner.artifact_boms_2026_10');
    const digests = await db.query<{ d: string }>('SELECT DISTINCT payload_digest AS d FROM scanner.artifact_boms');
    expect(digests).toEqual([{ d: 'original' }]);
    expect(await triggerStates()).toEqual({
      ...before,
      'scanner.artifact_boms_2026_10 audit_rows': 'O',
      'scanner.artifact_boms_2026_10 stamp_rows': 'O',
    });
  });
});

describe('a slot whose move PostgreSQL refuses', () => {
  it('holds up only itself: ensure creates the other slots, then fails naming it, with the created ones in partial', async () => {
    await db.query(`DELETE FROM scanner.artifact_boms WHERE build_id = 'dec-1';
      CREATE RULE keep_log AS ON DELETE TO scanner.artifact_boms_default DO ALSO INSERT INTO scanner.audit (e) VALUES ('rule');`);
    const e = (await manager().ensure({ ahead: 2 }))._unsafeUnwrapErr();
    expect([e.code, e.context.partition]).toEqual(['DB_ERROR', 'artifact_boms_2026_11']);
    expect(e.message).toContain('DO ALSO rules');
    expect(e.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2026_12', 'artifact_boms_2027_01']);
    expect(await rowHomes(db)).toEqual({ 'nov-1': 'scanner.artifact_boms_default' });
  });
});

describe('a run that may not switch the triggers off', () => {
  it('refuses that slot naming the triggers and why, moves nothing, and creates the others', async () => {
    const role = `bk_part_job_${process.pid}`;
    await db.query(`CREATE ROLE ${role};
      GRANT USAGE, CREATE ON SCHEMA scanner TO ${role};
      ALTER TABLE scanner.artifact_boms OWNER TO ${role};
      ALTER TABLE scanner.artifact_boms_default OWNER TO postgres;
      GRANT ALL ON scanner.artifact_boms_default, scanner.audit TO ${role};
      GRANT USAGE ON SEQUENCE scanner.audit_n_seq TO ${role};
      DELETE FROM scanner.artifact_boms WHERE build_id = 'dec-1';
      TRUNCATE scanner.audit;`);
    const pool = new pg.Pool({ connectionString: db.url, options: `-c role=${role}` });
    pool.on('error', () => {});
    try {
      const m = new PartitionManager({ pg: pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW });
      const e = (await m.ensure({ ahead: 1 }))._unsafeUnwrapErr();
      expect([e.code, e.dbCode, e.context.partition]).toEqual(['DB_ERROR', '42501', 'artifact_boms_2026_11']);
      expect(e.message).toContain('always_on, audit_rows, default_deletes, default_statements, replica_only');
      expect(e.message).toContain('owner');
      expect(e.partial?.created.map((c) => c.name)).toEqual(['artifact_boms_2026_12']);
    } finally {
      await pool.end();
      await db.query(`REASSIGN OWNED BY ${role} TO postgres; DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
    expect(await rowHomes(db)).toEqual({ 'nov-1': 'scanner.artifact_boms_default' });
    expect(await audit()).toEqual([]);
  });
});
