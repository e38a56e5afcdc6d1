/**
 * A swap makes again for the swapped-in table what the live table carries:
 * each extended statistics object (dropped and made again, then given back
 * to its owner, whom `ALTER TABLE … OWNER TO` leaves as it was) and each
 * trigger (`CREATE TRIGGER`, which needs EXECUTE on its function). The
 * table's owner, importing as itself and no superuser, may not be allowed
 * to: that must be refused up front, dry runs included, naming what to
 * grant, as a swap short of any other privilege is; not found under the
 * swap's lock, after every row was loaded.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, onServer, type TestDatabase } from '../../support/pg.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { handTarball, ndjson, scratch } from './fixtures.js';

const suffix = randomBytes(3).toString('hex');
const before = `bk_stat_before_${suffix}`;
const owner = `bk_stat_owner_${suffix}`;
let db: TestDatabase;
let dataset: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dataset = handTarball(scratch('bk-swap-stat-'), 'new.tar.zst', [
    { name: 'linksets.ndjson', text: ndjson([{ _id: 'new-1' }, { _id: 'new-2' }]) },
  ]);
  await onServer(`CREATE ROLE ${before}`);
  await onServer(`CREATE ROLE ${owner}`);
});
afterAll(async () => {
  await db.drop();
  await onServer(`DROP ROLE IF EXISTS ${owner}`);
  await onServer(`DROP ROLE IF EXISTS ${before}`);
});

/**
 * Swaps as the owner role (`pool`), dry run and not, and expects each refused
 * up front: `DB_ERROR 42501` with `message`, nothing loaded, the table as it
 * was and no staging table left. Returns the importer, for the swap once granted.
 */
async function expectRefusedUpFront(pool: pg.Pool, s: string, message: string): Promise<StagingImporter> {
  const importer = new StagingImporter({ pg: pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } });
  for (const dryRun of [true, false]) {
    const e = (await importer.import(dataset, { strategy: 'swap', dryRun }))._unsafeUnwrapErr();
    expect([e.code, e.dbCode]).toEqual(['DB_ERROR', '42501']);
    expect(e.message).toContain(message);
    expect(e.message).not.toContain(`import as ${owner}`);
    expect(e.partial?.tables.map((r) => r.loaded)).toEqual([0]);
  }
  expect(await db.query(`SELECT id FROM ${s}.linksets_raw`)).toEqual([{ id: 'old-1' }]);
  expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%'`)).toEqual([]);
  return importer;
}

describe("a swap by the table's owner, no superuser, of a table carrying what it may not make again", () => {
  it('extended statistics another role owns: refused before anything is loaded, dry run included, naming the grant; with it, the swap carries the statistics over', async () => {
    const s = 's_stat_owner';
    const t = `${s}.linksets_raw`;
    await db.query(`CREATE SCHEMA ${s}; GRANT CREATE, USAGE ON SCHEMA ${s} TO ${before}, ${owner};
      CREATE TABLE ${t} (id text PRIMARY KEY, raw jsonb NOT NULL); INSERT INTO ${t} VALUES ('old-1', '{"_id":"old-1"}');
      ALTER TABLE ${t} OWNER TO ${before};
      SET ROLE ${before}; CREATE STATISTICS ${s}.by_both ON id, raw FROM ${t}; RESET ROLE;
      ALTER TABLE ${t} OWNER TO ${owner}`);
    // The importing role is the table's owner, and no superuser.
    const pool = new pg.Pool({ connectionString: db.url, max: 4, options: `-c role=${owner}` });
    try {
      // Before: the dry run passed, and the import loaded every row, then failed under the swap's lock
      // with "must be owner of statistics object by_both".
      const importer = await expectRefusedUpFront(
        pool,
        s,
        `role ${owner} cannot swap ${t}: a swap makes a new table beside it and gives it to the table's owner, and makes its extended statistics (as their owners') again for that table, which needs membership in ${before}, which owns statistics object ${s}.by_both (GRANT ${before} TO ${owner}, or ALTER STATISTICS ${s}.by_both OWNER TO ${owner}).`,
      );
      // What the message says to grant is enough.
      await db.query(`GRANT ${before} TO ${owner}`);
      (await importer.import(dataset, { strategy: 'swap' }))._unsafeUnwrap();
      expect(await db.query(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 'new-1' }, { id: 'new-2' }]);
      expect(
        await db.query(`SELECT stxname, pg_get_userbyid(stxowner) AS owner FROM pg_statistic_ext WHERE stxrelid = '${t}'::regclass`),
      ).toEqual([{ stxname: 'by_both', owner: before }]);
    } finally {
      await pool.end();
      await db.query(`DROP SCHEMA ${s} CASCADE; DROP OWNED BY ${before}, ${owner}`);
    }
  });

  it('a trigger whose function is revoked from PUBLIC (made by a superuser): refused before anything is loaded, dry run included, naming the grant', async () => {
    const s = 's_trigger_execute';
    const t = `${s}.linksets_raw`;
    await db.query(`CREATE SCHEMA ${s}; GRANT CREATE, USAGE ON SCHEMA ${s} TO ${owner};
      CREATE TABLE ${t} (id text PRIMARY KEY, raw jsonb NOT NULL); INSERT INTO ${t} VALUES ('old-1', '{"_id":"old-1"}');
      ALTER TABLE ${t} OWNER TO ${owner};
      CREATE FUNCTION ${s}.audit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN RETURN NEW; END $$;
      REVOKE ALL ON FUNCTION ${s}.audit() FROM PUBLIC;
      CREATE TRIGGER audit BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${s}.audit()`);
    const pool = new pg.Pool({ connectionString: db.url, max: 4, options: `-c role=${owner}` });
    try {
      // Before: the dry run passed, and the import loaded every row, then failed under the swap's lock
      // with "permission denied for function audit".
      const importer = await expectRefusedUpFront(
        pool,
        s,
        `role ${owner} cannot swap ${t}: a swap makes a new table beside it and gives it to the table's owner, and makes its triggers again for that table, which needs EXECUTE on function ${s}.audit(), which trigger audit calls (GRANT EXECUTE ON FUNCTION ${s}.audit() TO ${owner}).`,
      );
      await db.query(`GRANT EXECUTE ON FUNCTION ${s}.audit() TO ${owner}`);
      (await importer.import(dataset, { strategy: 'swap' }))._unsafeUnwrap();
      expect(await db.query(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 'new-1' }, { id: 'new-2' }]);
      expect(await db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = '${t}'::regclass`)).toEqual([{ tgname: 'audit' }]);
    } finally {
      await pool.end();
      await db.query(`DROP SCHEMA ${s} CASCADE; DROP OWNED BY ${owner}`);
    }
  });
});
