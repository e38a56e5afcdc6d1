/**
 * New partitions carry the parent's owner and table privileges, so a role
 * that may read (or write) the parent directly may do the same with each
 * partition, and the parent's owner owns them (its migrations and VACUUMs
 * work on them), whoever runs the job.
 */
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const NOW = new Date('2026-11-15T08:00:00Z');
const suffix = `${process.pid}_${Math.floor(Math.random() * 1e6)}`;
const roles = {
  owner: `bk_acl_owner_${suffix}`,
  reader: `bk_acl_reader_${suffix}`,
  writer: `bk_acl_writer_${suffix}`,
  audit: `bk_acl_audit_${suffix}`,
  extra: `bk_acl_extra_${suffix}`,
  job: `bk_acl_job_${suffix}`,
};
let rolesMade = false;

async function makeRoles(): Promise<void> {
  if (rolesMade) return;
  for (const role of Object.values(roles)) await db.query(`CREATE ROLE ${role}`);
  rolesMade = true;
}

afterAll(async () => {
  if (!rolesMade) return;
  // Before the test database goes (after-hooks run last-registered first): what the roles own and were granted is there.
  const all = Object.values(roles).join(', ');
  await db.query(`DROP OWNED BY ${all}; DROP ROLE ${all}`);
});

/** A table's owner and its privileges as `grantee=PRIVILEGE[*]`, sorted, grantors aside: what decides who may do what. */
async function access(table: string): Promise<{ owner: string; acl: string[]; raw: string | null }> {
  const [row] = await db.query<{ owner: string; acl: string[]; raw: string | null }>(
    `SELECT c.relowner::regrole::text AS owner, c.relacl::text AS raw,
       ARRAY(SELECT DISTINCT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END || '=' || e.privilege_type || CASE WHEN e.is_grantable THEN '*' ELSE '' END
             FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) e ORDER BY 1) AS acl
     FROM pg_class c WHERE c.oid = $1::regclass`,
    [table],
  );
  return row!;
}

/** Runs `sql` as `role` (SET ROLE on a connection of the superuser's pool) and returns its rows. */
async function as(role: string, sql: string): Promise<unknown> {
  const client = await db.pool.connect();
  try {
    await client.query(`SET ROLE ${role}`);
    return (await client.query(sql)).rows;
  } finally {
    await client.query('RESET ROLE');
    client.release();
  }
}

/** A logger that keeps each warning as `message: reason`. */
function warningsLog(): {
  warnings: string[];
  logger: { info(): void; error(): void; warn(m: string, f?: Record<string, unknown>): void };
} {
  const warnings: string[] = [];
  return { warnings, logger: { info() {}, error() {}, warn: (m, f) => warnings.push(`${m}: ${String(f?.['reason'])}`) } };
}

/** The warnings one `ensure` run logs. */
async function ensureWarnings(): Promise<string[]> {
  const { warnings, logger } = warningsLog();
  (await manager(db.pool, logger).ensure())._unsafeUnwrap();
  return warnings;
}

const manager = (pool: pg.Pool = db.pool, logger?: ReturnType<typeof warningsLog>['logger']): PartitionManager =>
  new PartitionManager({
    pg: pool,
    table: 'scanner.artifact_boms',
    column: 'inserted_at',
    now: NOW,
    ...(logger === undefined ? {} : { logger }),
  });

/** The parent owned by the owner role, read by one role, written by another that passed its reading on. */
async function grantOnParent(): Promise<void> {
  await makeRoles();
  await db.query(`GRANT USAGE, CREATE ON SCHEMA scanner TO ${roles.owner};
    GRANT USAGE ON SCHEMA scanner TO ${roles.reader}, ${roles.writer}, ${roles.audit};
    ALTER TABLE scanner.artifact_boms OWNER TO ${roles.owner};
    GRANT SELECT ON scanner.artifact_boms TO ${roles.reader};
    GRANT SELECT, INSERT ON scanner.artifact_boms TO ${roles.writer} WITH GRANT OPTION;
    SET ROLE ${roles.writer}; GRANT SELECT ON scanner.artifact_boms TO ${roles.audit}; RESET ROLE;`);
}

describe('ensure copies the owner and privileges of the parent', () => {
  it('run by a superuser: each new partition is the owner’s, with exactly the parent’s privileges (default privileges aside)', async () => {
    await grantOnParent();
    // The running role's default privileges would give a role the parent never granted reading and updating.
    await db.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA scanner GRANT SELECT, UPDATE ON TABLES TO ${roles.extra}`);
    // And a default partition with a row for a new month, so that slot is made on the slower, moving path.
    await db.query(`CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
      INSERT INTO scanner.artifact_boms VALUES ('dec-1', 'x', null, '2026-12-03 00:00:00+00')`);
    const r = (await manager().ensure({ behind: 1, ahead: 1 }))._unsafeUnwrap();
    expect(r.created.map((c) => c.name)).toEqual(['artifact_boms_2026_10', 'artifact_boms_2026_11', 'artifact_boms_2026_12']);
    expect(r.created.map((c) => c.rowsMovedFromDefault)).toEqual([0, 0, 1]);
    const parent = await access('scanner.artifact_boms');
    expect(parent.owner).toBe(roles.owner);
    for (const c of r.created) {
      const child = await access(`scanner.${c.name}`);
      expect(child.owner).toBe(roles.owner);
      expect(child.acl).toEqual(parent.acl);
    }
    // The reader reads a partition directly, as it reads the parent; the writer writes one; the extra role reads none.
    expect(await as(roles.reader, 'SELECT build_id FROM scanner.artifact_boms_2026_12')).toEqual([{ build_id: 'dec-1' }]);
    await as(roles.writer, "INSERT INTO scanner.artifact_boms_2026_11 VALUES ('nov-1', 'x', null, '2026-11-02 00:00:00+00')");
    await expect(as(roles.extra, 'SELECT 1 FROM scanner.artifact_boms_2026_11')).rejects.toThrow(/permission denied/);
    await expect(as(roles.reader, 'DELETE FROM scanner.artifact_boms_2026_11')).rejects.toThrow(/permission denied/);
  });

  it('copies column privileges: a role that may read some columns of the parent reads those of a partition, no others', async () => {
    await grantOnParent();
    await db.query(`GRANT SELECT (build_id, inserted_at), UPDATE (payload_digest) ON scanner.artifact_boms TO ${roles.extra};
      GRANT USAGE ON SCHEMA scanner TO ${roles.extra}`);
    const r = (await manager().ensure({ ahead: 0 }))._unsafeUnwrap();
    const part = `scanner.${r.created[0]!.name}`;
    await db.query(`INSERT INTO ${part} VALUES ('nov-1', 'x', null, '2026-11-02 00:00:00+00')`);
    const columnAcl = async (table: string): Promise<unknown> =>
      db.query(
        'SELECT attname, attacl::text AS acl FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND attacl IS NOT NULL ORDER BY attnum',
        [table],
      );
    expect(await columnAcl(part)).toEqual(await columnAcl('scanner.artifact_boms'));
    expect(await as(roles.extra, `SELECT build_id FROM ${part}`)).toEqual([{ build_id: 'nov-1' }]);
    await expect(as(roles.extra, `SELECT canonical_bom_sha256 FROM ${part}`)).rejects.toThrow(/permission denied/);
  });

  it('under row-level security, gives no role but the owner the parent’s grants: a direct read would bypass its policies', async () => {
    await grantOnParent();
    await db.query(`GRANT SELECT (build_id) ON scanner.artifact_boms TO ${roles.extra}; GRANT USAGE ON SCHEMA scanner TO ${roles.extra};
      ALTER TABLE scanner.artifact_boms ENABLE ROW LEVEL SECURITY;
      CREATE POLICY only_mine ON scanner.artifact_boms FOR SELECT USING (build_id LIKE 'mine-%')`);
    const { warnings, logger } = warningsLog();
    const r = (await manager(db.pool, logger).ensure({ ahead: 0 }))._unsafeUnwrap();
    const part = `scanner.${r.created[0]!.name}`;
    await db.query(
      `INSERT INTO scanner.artifact_boms VALUES ('mine-1', 'x', null, '2026-11-02 00:00:00+00'), ('theirs-1', 'x', null, '2026-11-03 00:00:00+00')`,
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('row-level security');
    const child = await access(part);
    expect(child.owner).toBe(roles.owner);
    expect(child.acl.every((a) => a.startsWith(`${roles.owner}=`))).toBe(true);
    // Through the parent, under its policy; the partition itself is refused, never read past the policy.
    expect(await as(roles.reader, 'SELECT build_id FROM scanner.artifact_boms')).toEqual([{ build_id: 'mine-1' }]);
    await expect(as(roles.reader, `SELECT build_id FROM ${part}`)).rejects.toThrow(/permission denied/);
    await expect(as(roles.extra, `SELECT build_id FROM ${part}`)).rejects.toThrow(/permission denied/);
  });

  it('mirrors an owner that gave up some of its own privileges, and PUBLIC', async () => {
    await grantOnParent();
    await db.query(`REVOKE DELETE, TRUNCATE ON scanner.artifact_boms FROM ${roles.owner}; GRANT SELECT ON scanner.artifact_boms TO PUBLIC`);
    const r = (await manager().ensure())._unsafeUnwrap();
    const parent = await access('scanner.artifact_boms');
    expect(parent.acl).toContain('PUBLIC=SELECT');
    expect(parent.acl).not.toContain(`${roles.owner}=DELETE`);
    for (const c of r.created) expect(await access(`scanner.${c.name}`)).toMatchObject({ owner: roles.owner, acl: parent.acl });
  });

  it('run by the owner itself, on a parent with the default privileges: nothing to copy, the partition is as PostgreSQL makes it', async () => {
    await makeRoles();
    await db.query(`GRANT USAGE, CREATE ON SCHEMA scanner TO ${roles.owner}; ALTER TABLE scanner.artifact_boms OWNER TO ${roles.owner}`);
    const pool = new pg.Pool({ connectionString: db.url, options: `-c role=${roles.owner}` });
    try {
      const r = (await manager(pool).ensure())._unsafeUnwrap();
      for (const c of r.created) expect(await access(`scanner.${c.name}`)).toMatchObject({ owner: roles.owner, raw: null });
      // Its own default privileges (granted to a role the parent does not know) are taken back.
      await db.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${roles.owner} GRANT SELECT ON TABLES TO ${roles.extra}`);
      const later = (await manager(pool).ensure({ ahead: 2 }))._unsafeUnwrap();
      expect(later.created.map((c) => c.name)).toEqual(['artifact_boms_2027_01']);
      expect(await access('scanner.artifact_boms_2027_01')).toMatchObject({
        owner: roles.owner,
        acl: (await access('scanner.artifact_boms')).acl,
      });
    } finally {
      await db.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${roles.owner} REVOKE SELECT ON TABLES FROM ${roles.extra}`);
      await pool.end();
    }
  });

  it.for<[string, { ddl: (r: typeof roles) => string; minVersion: number; warns: (r: typeof roles) => string }]>([
    [
      'the owner may not create in the schema',
      {
        // The job's role acts for the owner (a member of it) and may create in the schema; the owner itself may not.
        ddl: (r) => `REVOKE CREATE ON SCHEMA scanner FROM ${r.owner}; GRANT ${r.owner} TO ${r.job}`,
        minVersion: 0,
        warns: (r) => `GRANT CREATE ON SCHEMA scanner TO ${r.owner}`,
      },
    ],
    [
      // Where every slot failed with 42501 before.
      'the runner is a member that may not SET ROLE to the owner (PostgreSQL 16 and later)',
      { ddl: (r) => `GRANT ${r.owner} TO ${r.job} WITH SET FALSE`, minVersion: 160000, warns: (r) => `SET ROLE ${r.owner}` },
    ],
  ])('when %s, the partitions stay the runner’s, with the parent’s privileges, and a warning says why', async ([, c], ctx) => {
    const [{ v }] = (await db.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v")) as [{ v: number }];
    if (v < c.minVersion) return ctx.skip('skipped: a membership without SET exists from PostgreSQL 16 on');
    await grantOnParent();
    await db.query(`${c.ddl(roles)}; GRANT USAGE, CREATE ON SCHEMA scanner TO ${roles.job}`);
    const pool = new pg.Pool({ connectionString: db.url, options: `-c role=${roles.job}` });
    const { warnings, logger } = warningsLog();
    try {
      const r = (await manager(pool, logger).ensure())._unsafeUnwrap();
      expect(r.created).toHaveLength(2);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(c.warns(roles));
      const parent = await access('scanner.artifact_boms');
      for (const created of r.created) {
        const child = await access(`scanner.${created.name}`);
        expect(child.owner).toBe(roles.job);
        // The parent's grants, and the runner's own privileges as the table's owner besides.
        expect(child.acl.filter((a) => !a.startsWith(`${roles.job}=`))).toEqual(parent.acl);
      }
    } finally {
      await db.query(`REVOKE ${roles.owner} FROM ${roles.job}`);
      await pool.end();
    }
  });

  it('warns when a grant made on the parent later has not reached the existing partitions, until it is granted on each', async () => {
    await grantOnParent();
    expect(await ensureWarnings()).toEqual([]);
    await db.query(`GRANT USAGE ON SCHEMA scanner TO ${roles.extra}; GRANT SELECT ON scanner.artifact_boms TO ${roles.extra}`);
    const later = await ensureWarnings();
    expect(later).toHaveLength(1);
    expect(later[0]).toContain('scanner.artifact_boms_2026_11, scanner.artifact_boms_2026_12 lack privileges');
    expect(later[0]).toContain(`grants to ${roles.extra}:`);
    await expect(as(roles.extra, 'SELECT 1 FROM scanner.artifact_boms_2026_11')).rejects.toThrow(/permission denied/);
    // The README's statement: the same grant on each partition.
    await db.query(`DO $$
      DECLARE part regclass;
      BEGIN
        FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'scanner.artifact_boms'::regclass LOOP
          EXECUTE format('GRANT SELECT ON %s TO ${roles.extra}', part);
        END LOOP;
      END $$`);
    expect(await as(roles.extra, 'SELECT 1 FROM scanner.artifact_boms_2026_11')).toEqual([]);
    expect(await ensureWarnings()).toEqual([]);
  });

  it('warns when row-level security is turned on after partitions got the parent’s grants, with the REVOKE that closes them', async () => {
    await grantOnParent();
    await db.query(`GRANT SELECT (build_id) ON scanner.artifact_boms TO ${roles.extra}; GRANT USAGE ON SCHEMA scanner TO ${roles.extra}`);
    (await manager().ensure())._unsafeUnwrap();
    await db.query(`ALTER TABLE scanner.artifact_boms ENABLE ROW LEVEL SECURITY;
      CREATE POLICY only_mine ON scanner.artifact_boms FOR SELECT USING (build_id LIKE 'mine-%');
      INSERT INTO scanner.artifact_boms VALUES ('theirs-1', 'x', null, '2026-11-03 00:00:00+00')`);
    // Read directly, the partition shows what the parent's policy hides.
    expect(await as(roles.reader, 'SELECT build_id FROM scanner.artifact_boms')).toEqual([]);
    expect(await as(roles.reader, 'SELECT build_id FROM scanner.artifact_boms_2026_11')).toEqual([{ build_id: 'theirs-1' }]);
    const warnings = await ensureWarnings();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('row-level security');
    // The statement the warning gives, up to its full stop (role names hold no dot).
    const revoke = /REVOKE ALL ON TABLE .+ FROM [^.]+/.exec(warnings[0]!)?.[0];
    expect(revoke).toBe(
      `REVOKE ALL ON TABLE scanner.artifact_boms_2026_11, scanner.artifact_boms_2026_12 FROM ${[roles.audit, roles.extra, roles.reader, roles.writer].sort().join(', ')}`,
    );
    await db.query(revoke!);
    await expect(as(roles.reader, 'SELECT build_id FROM scanner.artifact_boms_2026_11')).rejects.toThrow(/permission denied/);
    await expect(as(roles.extra, 'SELECT build_id FROM scanner.artifact_boms_2026_11')).rejects.toThrow(/permission denied/);
    expect(await ensureWarnings()).toEqual([]);
  });

  it('warns when a privilege revoked on the parent later is still granted on the existing partitions', async () => {
    await grantOnParent();
    await db.query(`GRANT SELECT (build_id) ON scanner.artifact_boms TO ${roles.extra}; GRANT USAGE ON SCHEMA scanner TO ${roles.extra}`);
    (await manager().ensure())._unsafeUnwrap();
    await db.query(
      `REVOKE SELECT ON scanner.artifact_boms FROM ${roles.reader}; REVOKE SELECT (build_id) ON scanner.artifact_boms FROM ${roles.extra}`,
    );
    await expect(as(roles.reader, 'SELECT 1 FROM scanner.artifact_boms')).rejects.toThrow(/permission denied/);
    expect(await as(roles.reader, 'SELECT 1 FROM scanner.artifact_boms_2026_11')).toEqual([]);
    const warnings = await ensureWarnings();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(
      `scanner.artifact_boms_2026_11, scanner.artifact_boms_2026_12 grant ${[roles.extra, roles.reader].sort().join(', ')} privileges that scanner.artifact_boms does not`,
    );
    await db.query(`REVOKE SELECT ON scanner.artifact_boms_2026_11, scanner.artifact_boms_2026_12 FROM ${roles.reader};
      REVOKE SELECT (build_id) ON scanner.artifact_boms_2026_11, scanner.artifact_boms_2026_12 FROM ${roles.extra}`);
    expect(await ensureWarnings()).toEqual([]);
  });

  it('warns about partitions another role owns (as a run made them before they were handed over), until they are the parent owner’s', async () => {
    await grantOnParent();
    // What an earlier run as the superuser made: the partition is the superuser's, with none of the parent's grants.
    await db.query(`CREATE TABLE scanner.artifact_boms_2026_11 PARTITION OF scanner.artifact_boms
      FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')`);
    const [{ me }] = (await db.query<{ me: string }>('SELECT quote_ident(current_user) AS me')) as [{ me: string }];
    const warnings = await ensureWarnings();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(
      `scanner.artifact_boms_2026_11 belongs to ${me}, not to ${roles.owner}, the owner of scanner.artifact_boms`,
    );
    expect(warnings[0]).toContain(`ALTER TABLE … OWNER TO ${roles.owner}`);
    // The owner is not named as lacking privileges: they come with the ownership.
    expect(warnings[1]).toContain(
      `lacks privileges that scanner.artifact_boms grants to ${[roles.audit, roles.reader, roles.writer].sort().join(', ')}:`,
    );
    await db.query(`ALTER TABLE scanner.artifact_boms_2026_11 OWNER TO ${roles.owner}`);
    expect(await as(roles.owner, 'SELECT 1 FROM scanner.artifact_boms_2026_11')).toEqual([]);
    const after = await ensureWarnings();
    expect(after).toHaveLength(1);
    expect(after[0]).toContain('lack privileges');
  });
});
