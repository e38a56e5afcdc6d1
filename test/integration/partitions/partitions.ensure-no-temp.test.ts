/**
 * A job role that may not create temporary tables (`REVOKE TEMPORARY ON DATABASE … FROM PUBLIC`, a
 * common hardening): moving a slot's rows out of the default partition must not need one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { rowHomes, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const role = `bk_notemp_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
let roleMade = false;

afterAll(async () => {
  if (!roleMade) return;
  await db.query(`GRANT TEMPORARY ON DATABASE "${db.name}" TO PUBLIC; DROP OWNED BY ${role}; DROP ROLE ${role}`);
});

describe('ensure run by a role without the TEMPORARY privilege', () => {
  it('moves the rows parked in the default partition into the new partitions', async () => {
    await db.query(`CREATE ROLE ${role}`);
    roleMade = true;
    await db.query(`
      CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
      INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES
        ('nov-1', 'a', '2026-11-03 00:00:00+00'), ('nov-2', 'b', '2026-11-30 23:59:59+00'),
        ('dec-1', 'c', '2026-12-20 00:00:00+00'), ('mar-1', 'd', '2027-03-01 00:00:00+00');
      GRANT USAGE, CREATE ON SCHEMA scanner TO ${role};
      ALTER TABLE scanner.artifact_boms OWNER TO ${role};
      ALTER TABLE scanner.artifact_boms_default OWNER TO ${role};
      REVOKE TEMPORARY ON DATABASE "${db.name}" FROM PUBLIC;`);
    const pool = new pg.Pool({ connectionString: db.url, options: `-c role=${role}` });
    try {
      // The independent check that the role really may not: PostgreSQL refuses it a temporary table.
      await expect(pool.query('CREATE TEMPORARY TABLE t (x int)')).rejects.toThrow(/permission denied to create temporary tables/);
      const m = new PartitionManager({
        pg: pool,
        table: 'scanner.artifact_boms',
        column: 'inserted_at',
        interval: 'month',
        now: new Date('2026-11-15T08:00:00Z'),
      });
      const r = (await m.ensure({ behind: 0, ahead: 1 }))._unsafeUnwrap();
      expect(r.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([
        ['artifact_boms_2026_11', 2],
        ['artifact_boms_2026_12', 1],
      ]);
    } finally {
      await pool.end();
    }
    expect(await rowHomes(db)).toEqual({
      'dec-1': 'scanner.artifact_boms_2026_12',
      'mar-1': 'scanner.artifact_boms_default',
      'nov-1': 'scanner.artifact_boms_2026_11',
      'nov-2': 'scanner.artifact_boms_2026_11',
    });
    // Each new partition is a full partition of the parent: its primary key index came with the attach.
    const [idx] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_index WHERE indrelid = 'scanner.artifact_boms_2026_11'::regclass AND indisprimary",
    );
    expect(idx?.n).toBe(1);
  });
});
