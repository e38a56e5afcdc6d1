/**
 * Side by side with pg_partman (the anchor of issue 5) on the same server:
 * the same months, the same bounds, no gaps, and the default-partition case
 * where pg_partman's maintenance fails.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { catalogBounds, createArtifactBomsTable, rowHomes } from './fixtures.js';

async function partmanVersion(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: inject('pgUrl') });
  await c.connect();
  try {
    const { rows } = await c.query<{ v: string }>("SELECT default_version AS v FROM pg_available_extensions WHERE name = 'pg_partman'");
    return rows[0]?.v;
  } finally {
    await c.end();
  }
}

const version = await partmanVersion();
const SKIP =
  version === undefined ? 'skipped: the pg_partman extension is not installed on this server (apt-get install postgresql-15-partman)' : '';
// pg_partman 5 dropped the p_type argument and names partitions differently; these tests speak 4.x.
const SKIP_V5 =
  version !== undefined && !version.startsWith('4.')
    ? `skipped: pg_partman ${version} found; the comparison uses the 4.x create_parent signature Debian 12 ships`
    : '';
const reason = SKIP || SKIP_V5;
if (reason) console.warn(`[partitions.pg-partman] ${reason}`);

let db: TestDatabase;
let session: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase();
  if (reason) return;
  session = new pg.Client({ connectionString: db.url });
  await session.connect();
  // pg_partman computes months with date_trunc in the session time zone.
  await session.query("SET TIME ZONE 'UTC'; CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman");
});
afterAll(async () => {
  await session?.end();
  await db.drop();
});

/**
 * Runs pg_partman calls in one transaction and returns its `now()`, which
 * pg_partman's months come from, so that PartitionManager can be given the
 * same instant even if a month ends between the two.
 */
async function partmanAt(...statements: string[]): Promise<Date> {
  await session.query('BEGIN');
  try {
    const { rows } = await session.query<{ t: Date }>('SELECT now() AS t');
    for (const sql of statements) await session.query(sql);
    await session.query('COMMIT');
    return rows[0]!.t;
  } catch (e) {
    await session.query('ROLLBACK');
    throw e;
  }
}

const ranges = (bounds: Map<string, string>): string[] => [...bounds.values()].filter((b) => b !== 'DEFAULT').sort();

describe.skipIf(reason !== '')(`pg_partman ${version ?? ''} comparison${reason ? ` (${reason})` : ''}`, () => {
  it('makes the same months with the same bounds and no gaps as create_parent + run_maintenance', async () => {
    await createArtifactBomsTable(db, 'boms_ours');
    await createArtifactBomsTable(db, 'boms_pm');
    const now = await partmanAt(
      "SELECT partman.create_parent('scanner.boms_pm', 'inserted_at', 'native', 'monthly', p_premake := 3)",
      "SELECT partman.run_maintenance('scanner.boms_pm')",
    );
    const ours = new PartitionManager({ pg: db.pool, table: 'scanner.boms_ours', column: 'inserted_at', interval: 'month', now });
    (await ours.ensure({ ahead: 3, behind: 3 }))._unsafeUnwrap();
    const theirs = ranges(await catalogBounds(db, 'scanner', 'boms_pm'));
    const mine = ranges(await catalogBounds(db, 'scanner', 'boms_ours'));
    expect(theirs).toHaveLength(7);
    expect(mine).toEqual(theirs);
    const pairs = mine.map((b) => /FROM \('(.*)'\) TO \('(.*)'\)/.exec(b)!.slice(1));
    for (let i = 1; i < pairs.length; i++) expect(pairs[i]![0]).toBe(pairs[i - 1]![1]);
  });

  it("on pg_partman's own table: counts its partitions as existing, and succeeds where its maintenance fails on default-partition rows", async () => {
    await createArtifactBomsTable(db, 'boms_shared');
    const now = await partmanAt("SELECT partman.create_parent('scanner.boms_shared', 'inserted_at', 'native', 'monthly', p_premake := 2)");
    const m = new PartitionManager({ pg: db.pool, table: 'scanner.boms_shared', column: 'inserted_at', now });
    const same = (await m.ensure({ ahead: 2, behind: 2 }))._unsafeUnwrap();
    expect(same.created).toEqual([]);
    expect(same.existing.map((e) => e.coveredBy)).toEqual(same.existing.map((e) => e.name.replace('boms_shared_', 'boms_shared_p')));
    // A row arrives for a month nobody created yet: it lands in pg_partman's default partition.
    await session.query(
      "INSERT INTO scanner.boms_shared VALUES ('early', 'sha', null, date_trunc('month', $1::timestamptz) + interval '4 months 3 days')",
      [now],
    );
    await session.query("UPDATE partman.part_config SET premake = 5 WHERE parent_table = 'scanner.boms_shared'");
    await expect(session.query("SELECT partman.run_maintenance('scanner.boms_shared')")).rejects.toThrow(/would be violated/);
    const r = (await m.ensure({ ahead: 5 }))._unsafeUnwrap();
    // pg_partman made -2 … +2, so +3 … +5 are new and the row (at +4) moves into the middle one.
    expect(r.created.map((c) => c.rowsMovedFromDefault)).toEqual([0, 1, 0]);
    expect((await rowHomes(db, 'scanner.boms_shared')).early).toBe(`scanner.${r.created[1]?.name}`);
  });

  it('gives new partitions the owner and privileges pg_partman gives them with inherit_privileges', async () => {
    const suffix = `${process.pid}_${Math.floor(Math.random() * 1e6)}`;
    const [owner, reader, writer] = ['owner', 'reader', 'writer'].map((r) => `bk_pm_${r}_${suffix}`) as [string, string, string];
    await session.query(`CREATE ROLE ${owner}; CREATE ROLE ${reader}; CREATE ROLE ${writer}`);
    try {
      await session.query(`GRANT USAGE, CREATE ON SCHEMA scanner TO ${owner}`);
      for (const table of ['boms_acl_ours', 'boms_acl_pm']) {
        await createArtifactBomsTable(db, table);
        await session.query(`ALTER TABLE scanner.${table} OWNER TO ${owner};
          GRANT SELECT ON scanner.${table} TO ${reader};
          GRANT SELECT, INSERT, UPDATE ON scanner.${table} TO ${writer} WITH GRANT OPTION;
          REVOKE TRUNCATE ON scanner.${table} FROM ${owner}`);
      }
      const now = await partmanAt(
        "SELECT partman.create_parent('scanner.boms_acl_pm', 'inserted_at', 'native', 'monthly', p_premake := 1)",
        "UPDATE partman.part_config SET inherit_privileges = true WHERE parent_table = 'scanner.boms_acl_pm'",
        "SELECT partman.reapply_privileges('scanner.boms_acl_pm')",
      );
      const ours = new PartitionManager({ pg: db.pool, table: 'scanner.boms_acl_ours', column: 'inserted_at', now });
      const created = (await ours.ensure({ ahead: 1, behind: 1 }))._unsafeUnwrap().created;
      expect(created).toHaveLength(3);
      /** Each partition's owner and privileges (`grantee=PRIVILEGE[*]`, grantors aside), in bound order. */
      const accessOf = async (parent: string): Promise<string[]> =>
        (
          await db.query<{ a: string }>(
            `SELECT c.relowner::regrole::text || ' ' || ARRAY(SELECT DISTINCT e.grantee::regrole::text || '=' || e.privilege_type || CASE WHEN e.is_grantable THEN '*' ELSE '' END
                 FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) e ORDER BY 1)::text AS a
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = $1::regclass AND NOT c.relpartbound::text LIKE '%DEFAULT%' ORDER BY pg_get_expr(c.relpartbound, c.oid)`,
            [parent],
          )
        ).map((r) => r.a);
      const theirs = await accessOf('scanner.boms_acl_pm');
      const mine = await accessOf('scanner.boms_acl_ours');
      expect(theirs.length).toBeGreaterThanOrEqual(3);
      expect(new Set(theirs).size).toBe(1);
      expect(theirs[0]).toContain(`${reader}=SELECT`);
      // pg_partman grants without the grant option (its privilege list leaves it out); apart from that, the same.
      const noGrantOption = (a: string): string => a.replaceAll('*', '');
      expect(mine.map(noGrantOption)).toEqual(Array.from({ length: 3 }, () => theirs[0]));
      // The writer's grant option, as on the parent.
      for (const a of mine) expect(a).toContain(`${writer}=INSERT*`);
    } finally {
      await session.query(`DROP OWNED BY ${owner}, ${reader}, ${writer}; DROP ROLE ${owner}, ${reader}, ${writer}`);
    }
  });
});
