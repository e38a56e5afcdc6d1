/**
 * A swap carries the live table's extended statistics over by dropping each
 * one and making it again for the swapped-in table, then giving it back to
 * its owner. `ALTER TABLE … OWNER TO` leaves a statistics object with the
 * role that made it, so the table's owner (importing as itself, not a
 * superuser) may not be able to: that must be refused up front, dry runs
 * included, naming what to grant, as a swap short of any other privilege
 * is; not found under the swap's lock, after every row was loaded.
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

describe("a swap by the table's owner of a table whose extended statistics another role owns", () => {
  it('is refused before anything is loaded, dry run included, naming the grant; with it, the swap carries the statistics over', async () => {
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
      const importer = new StagingImporter({ pg: pool, schema: s, tables: { 'linksets.ndjson': 'linksets_raw' } });
      for (const dryRun of [true, false]) {
        // Before: the dry run passed, and the import loaded every row, then failed under the swap's lock
        // with "must be owner of statistics object by_both".
        const e = (await importer.import(dataset, { strategy: 'swap', dryRun }))._unsafeUnwrapErr();
        expect([e.code, e.dbCode]).toEqual(['DB_ERROR', '42501']);
        expect(e.message).toContain(
          `role ${owner} cannot swap ${t}: a swap makes a new table beside it and gives it to the table's owner, and makes its extended statistics again for that table, as their owners', which needs membership in ${before}, which owns statistics object ${s}.by_both (GRANT ${before} TO ${owner}, or ALTER STATISTICS ${s}.by_both OWNER TO ${owner}).`,
        );
        expect(e.message).not.toContain(`import as ${owner}`);
        expect(e.partial?.tables.map((r) => r.loaded)).toEqual([0]);
      }
      expect(await db.query(`SELECT id FROM ${t}`)).toEqual([{ id: 'old-1' }]);
      expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%'`)).toEqual([]);
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
});
