/**
 * Shared fixtures for the partitions integration tests: the partition runbook's table
 * shape, written here from the runbook's description (not copied from it).
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';

/**
 * Gives the calling test file a database of its own (`set` receives it before the first test,
 * and it is dropped after the last), and drops the `scanner` schema before each test, creating
 * the partitioned table again unless `table` is false. A file's own `beforeEach` runs after this one.
 */
export function useScannerDatabase(set: (db: TestDatabase) => void, options: { readonly table?: boolean } = {}): void {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    set(db);
  });
  afterAll(async () => {
    await db?.drop();
  });
  beforeEach(async () => {
    await db!.query('DROP SCHEMA IF EXISTS scanner CASCADE');
    if (options.table !== false) await createArtifactBomsTable(db!);
  });
}

/** `scanner.artifact_boms` as the partition runbook's migration shapes it: range-partitioned on a timestamptz. */
export async function createArtifactBomsTable(db: TestDatabase, table = 'artifact_boms', schema = 'scanner'): Promise<void> {
  const t = `"${schema}"."${table}"`;
  await db.query(`
    SET TIME ZONE 'UTC';
    CREATE SCHEMA IF NOT EXISTS "${schema}";
    CREATE TABLE ${t} (
      build_id text NOT NULL,
      canonical_bom_sha256 text NOT NULL,
      payload_digest text,
      inserted_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (build_id, inserted_at)
    ) PARTITION BY RANGE (inserted_at);
    CREATE INDEX "${table}_sha_idx" ON ${t} (canonical_bom_sha256);
    CREATE INDEX "${table}_digest_idx" ON ${t} (payload_digest);`);
}

/** Partition bounds as PostgreSQL prints them with TimeZone UTC: the independent view of the catalog. */
export async function catalogBounds(db: TestDatabase, schema: string, table: string): Promise<Map<string, string>> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await c.query("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, MDY'");
    const { rows } = await c.query<{ name: string; bound: string }>(
      `SELECT cc.relname AS name, pg_get_expr(cc.relpartbound, cc.oid) AS bound
       FROM pg_inherits i JOIN pg_class cc ON cc.oid = i.inhrelid
       WHERE i.inhparent = to_regclass($1) ORDER BY 1`,
      [`"${schema}"."${table}"`],
    );
    return new Map(rows.map((r) => [r.name, r.bound]));
  } finally {
    await c.end();
  }
}

/** Which partition each row landed in, by build_id. */
export async function rowHomes(db: TestDatabase, sqlTable = 'scanner.artifact_boms'): Promise<Record<string, string>> {
  const rows = await db.query<{ build_id: string; home: string }>(
    `SELECT build_id, tableoid::regclass::text AS home FROM ${sqlTable} ORDER BY build_id`,
  );
  return Object.fromEntries(rows.map((r) => [r.build_id, r.home]));
}

/** Opens a second session that holds `mode` on `table` until released. */
export async function holdLock(url: string, table: string, mode: string): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('BEGIN');
  await c.query(`LOCK TABLE ${table} IN ${mode} MODE`);
  return {
    async release() {
      await c.query('ROLLBACK');
      await c.end();
    },
  };
}

/** A monthly manager of `scanner.artifact_boms` in `db`, its clock stopped at `now`; `extra` overrides any of the config. */
export function artifactBomsManager(
  db: TestDatabase,
  now: string,
  extra: Partial<ConstructorParameters<typeof PartitionManager>[0]> = {},
): PartitionManager {
  return new PartitionManager({
    pg: db.pool,
    table: 'scanner.artifact_boms',
    column: 'inserted_at',
    interval: 'month',
    now: new Date(now),
    ...extra,
  });
}
