import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgRawDocumentSource } from '../../../src/statements/index.js';
import { generateVexDocuments } from '../../../src/testing/index.js';
import { cli, jsonOf } from './cli-harness.js';

let db: TestDatabase;
let dsn: string;

/** The partitions of a table according to pg_catalog (not the CLI). */
async function partitions(parent: string): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [parent],
  );
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  db = await createTestDatabase();
  const u = new URL(db.url);
  dsn = `Host=${u.hostname};Port=${u.port || '5432'};Database=${u.pathname.slice(1)};Username=${decodeURIComponent(u.username) || 'postgres'}${u.password ? `;Password=${decodeURIComponent(u.password)}` : ''}`;
  await db.query('CREATE SCHEMA scanner');
  await db.query(
    `CREATE TABLE scanner.artifact_boms (canonical_bom_sha256 text NOT NULL, inserted_at timestamptz NOT NULL, PRIMARY KEY (canonical_bom_sha256, inserted_at)) PARTITION BY RANGE (inserted_at)`,
  );
});
afterAll(async () => {
  await db.drop();
});

describe('backfill-kit partitions (PG_DSN keyword form, as the partition runbook sets it)', () => {
  it('ensure 1 creates the current and next month, idempotently', async () => {
    const r = await cli(['partitions', 'ensure', '1', '--now', '2026-11-23T10:00:00Z'], { env: { PG_DSN: dsn } });
    expect(r.code, r.stderr).toBe(0);
    expect(await partitions('scanner.artifact_boms')).toEqual(['artifact_boms_2026_11', 'artifact_boms_2026_12']);
    const again = await cli(['partitions', 'ensure', '--ahead', '1', '--now', '2026-11-23T10:00:00Z', '--json'], { env: { PG_DSN: dsn } });
    expect(again.code).toBe(0);
    expect(jsonOf(again).report.created).toEqual([]);
  });

  it('retention 12 true is a dry run; --no-dry-run drops only what the plan named', async () => {
    const history = await cli(['partitions', 'ensure', '--ahead', '0', '--behind', '15', '--now', '2026-11-23T10:00:00Z', '--quiet'], {
      env: { PG_DSN: dsn },
    });
    expect(history.code, history.stderr).toBe(0);
    const before = await partitions('scanner.artifact_boms');
    expect(before).toHaveLength(17);
    const dry = await cli(['partitions', 'retention', '12', 'true', '--now', '2026-11-23T10:00:00Z', '--json'], { env: { PG_DSN: dsn } });
    expect(dry.code, dry.stderr).toBe(0);
    const plan = jsonOf(dry).report;
    expect(plan.dryRun).toBe(true);
    expect(plan.candidates.map((c: { name: string }) => c.name)).toEqual([
      'artifact_boms_2025_08',
      'artifact_boms_2025_09',
      'artifact_boms_2025_10',
    ]);
    expect(await partitions('scanner.artifact_boms')).toEqual(before);
    const real = await cli(['partitions', 'retention', '--keep', '12', '--no-dry-run', '--now', '2026-11-23T10:00:00Z'], {
      env: { PG_DSN: dsn },
    });
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toContain('dropped artifact_boms_2025_08');
    expect(await partitions('scanner.artifact_boms')).toEqual(
      before.filter((n) => !['artifact_boms_2025_08', 'artifact_boms_2025_09', 'artifact_boms_2025_10'].includes(n)),
    );
  });

  it('attach re-attaches a restored table; list shows it; a bad name is a usage error', async () => {
    await db.query(`CREATE TABLE scanner.artifact_boms_2025_09 (canonical_bom_sha256 text NOT NULL, inserted_at timestamptz NOT NULL)`);
    await db.query(`INSERT INTO scanner.artifact_boms_2025_09 VALUES ('a', '2025-09-10T00:00:00Z')`);
    const r = await cli(['partitions', 'attach', 'scanner.artifact_boms_2025_09'], { env: { PG_DSN: dsn } });
    expect(r.code, r.stderr).toBe(0);
    expect(await partitions('scanner.artifact_boms')).toContain('artifact_boms_2025_09');
    const list = await cli(['partitions', 'list', '--json'], { env: { PG_DSN: dsn } });
    expect(jsonOf(list).report.map((p: { name: string }) => p.name)).toContain('artifact_boms_2025_09');
    const bad = await cli(['partitions', 'attach', 'scanner.not_a_partition'], { env: { PG_DSN: dsn } });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^error [A-Z_]+: /m);
  });

  it('ensure says how many rows it moved out of the default partition, in the singular for one', async () => {
    await db.query(
      `CREATE TABLE scanner.moved (k text NOT NULL, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at);
       CREATE TABLE scanner.moved_default PARTITION OF scanner.moved DEFAULT;
       INSERT INTO scanner.moved VALUES ('a', '2027-01-10T00:00:00Z'), ('b', '2027-02-10T00:00:00Z'), ('c', '2027-02-11T00:00:00Z')`,
    );
    const r = await cli(['partitions', 'ensure', '2', '--table', 'scanner.moved', '--now', '2026-12-15T00:00:00Z'], {
      env: { PG_DSN: dsn },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('created moved_2026_12 [2026-12-01, 2027-01-01)\n');
    expect(r.stdout).toContain('created moved_2027_01 [2027-01-01, 2027-02-01), moved 1 row from the default partition\n');
    expect(r.stdout).toContain('created moved_2027_02 [2027-02-01, 2027-03-01), moved 2 rows from the default partition\n');
  });

  it('a table that does not exist exits 6 (database)', async () => {
    const r = await cli(['partitions', 'list', '--table', 'scanner.nope'], { env: { PG_DSN: dsn } });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^error TABLE_NOT_FOUND: /m);
  });
});

describe('backfill-kit statements backfill (PGURI)', () => {
  it('replays clean documents, exit 0, and prints the summary line of the statements runbook; a rerun skips them', async () => {
    const source = new PgRawDocumentSource({ pg: db.url });
    expect((await source.prepare()).isOk()).toBe(true);
    const docs = [...generateVexDocuments({ seed: 11, count: 60, brokenRatio: 0 })];
    expect((await source.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content })))).isOk()).toBe(
      true,
    );
    await source.close();
    const claims = docs.reduce((n, d) => n + d.expectedClaims, 0);
    const r = await cli(['statements', 'backfill', '--batch-size', '25'], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Backfill completed: evaluated 60, backfilled 60, claims written ${claims}, skipped 0, failures 0.`);
    expect((await db.query(`SELECT count(*)::int AS n FROM vex.statements`))[0]!['n']).toBe(claims);
    const again = await cli(['statements', 'backfill', '--json'], { env: { PGURI: db.url } });
    expect(again.code).toBe(0);
    expect(jsonOf(again).report).toMatchObject({ evaluated: 60, skipped: 60, backfilled: 0 });
  });

  it('failures make it exit 4; --stop-on-error stops at the first; --max-documents caps the run', async () => {
    const source = new PgRawDocumentSource({ pg: db.url });
    const docs = [...generateVexDocuments({ seed: 12, count: 30, brokenRatio: 0.3, startAt: new Date('2026-01-01T00:00:00Z') })];
    const broken = docs.filter((d) => d.kind === 'broken').length;
    expect(broken).toBeGreaterThan(0);
    expect((await source.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content })))).isOk()).toBe(
      true,
    );
    await source.close();
    const capped = await cli(['statements', 'backfill', '--retrieved-since', '2026-01-01T00:00:00Z', '--max-documents', '2', '--json'], {
      env: { PGURI: db.url },
    });
    expect(jsonOf(capped).report.evaluated).toBe(2);
    const stop = await cli(['statements', 'backfill', '--retrieved-since', '2026-01-01T00:00:00Z', '--stop-on-error', '--json'], {
      env: { PGURI: db.url },
    });
    expect(stop.code).not.toBe(0);
    // In flag terms: the library's message starts with its option, stopOnError.
    expect(stop.stderr).toMatch(/^error (DOCUMENT_INVALID|NO_NORMALIZER): --stop-on-error: /m);
    expect(stop.stderr.match(/^error .*$/m)?.[0]).not.toMatch(/stopOnError|runId/);
    // The summary of what was committed before the stop is the JSON report, printed once (not again inside the error).
    const stopJson = jsonOf(stop);
    expect(stopJson).toMatchObject({ ok: false, report: { failures: 1 } });
    expect(stopJson.report.evaluated).toBeGreaterThan(0);
    expect(stopJson.error).not.toHaveProperty('partial');
    const all = await cli(['statements', 'backfill', '--retrieved-since', '2026-01-01T00:00:00Z', '--force'], { env: { PGURI: db.url } });
    expect(all.code, all.stderr).toBe(4);
    expect(all.stdout).toMatch(new RegExp(`failures ${broken}\\.`));
  });

  it('report in a database where nothing was ever planned says so and exits 2 (usage), not TABLE_NOT_FOUND', async () => {
    const r = await cli(['statements', 'report', '--run-id', 'nightly'], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^error INVALID_ARGUMENT: run "nightly" was never planned: no run was planned with runs table "vex"\."statement_backfill_runs" \(it does not exist in this database\); check --runs-table, or plan it first/m,
    );
    expect(r.stderr).not.toMatch(/TABLE_NOT_FOUND/);
  });

  it("report on a single-process run's id says so and points at statements backfill --run-id, which prints its summary", async () => {
    const run = await cli(['statements', 'backfill', '--run-id', 'solo', '--max-documents', '3'], { env: { PGURI: db.url } });
    expect([0, 4], run.stderr).toContain(run.code);
    const r = await cli(['statements', 'report', '--run-id', 'solo'], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^error INVALID_ARGUMENT: run solo is a single-process run \(completed\), not a planned one: statements backfill --run-id solo --max-documents 3 prints its summary and report hash\./m,
    );
    const again = await cli(['statements', 'backfill', '--run-id', 'solo', '--max-documents', '3'], { env: { PGURI: db.url } });
    const summary = (out: string) => out.split('\n').filter((line) => !line.startsWith('run id:'));
    expect(again.code).toBe(run.code);
    expect(summary(again.stdout)).toEqual(summary(run.stdout));
  });

  it('a missing raw-documents table exits 6', async () => {
    const r = await cli(['statements', 'backfill', '--raw-table', 'vex.missing_raw'], { env: { PGURI: db.url } });
    expect(r.code).toBe(6);
  });
});
