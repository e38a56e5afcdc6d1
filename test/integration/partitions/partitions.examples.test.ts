import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { catalogBounds, createArtifactBomsTable } from './fixtures.js';

const root = resolve(import.meta.dirname, '..', '..', '..');
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await createArtifactBomsTable(db);
});
afterAll(async () => {
  await db.drop();
});

/** The runbook's keyword-form PG_DSN for the test database. */
function keywordDsn(url: string): string {
  const u = new URL(url);
  return `Host=${u.hostname};Port=${u.port || 5432};Database=${u.pathname.slice(1)};Username=${decodeURIComponent(u.username)};Password=${decodeURIComponent(u.password)}`;
}

function run(script: string, args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', resolve(root, 'examples', script), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PG_DSN: keywordDsn(db.url), ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the partition runbook scripts (examples/scanner-artifact-boms-*.ts)', () => {
  it('ensure-partitions with "1" creates this month and next from a keyword-form PG_DSN', async () => {
    const r = run('scanner-artifact-boms-ensure-partitions.ts', ['1']);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/ensure: 2 created, 0 already present/);
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).size).toBe(2);
    const again = run('scanner-artifact-boms-ensure-partitions.ts', ['1']);
    expect(again.out).toMatch(/ensure: 0 created, 2 already present/);
  });

  it('retention "12 true" prints the plan and drops nothing', async () => {
    await db.query(`CREATE TABLE scanner.artifact_boms_2001_01 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2001-01-01 00:00:00+00') TO ('2001-02-01 00:00:00+00');
      CREATE TABLE scanner.artifact_boms_backup (LIKE scanner.artifact_boms)`);
    const dry = run('scanner-artifact-boms-retention.ts', ['12', 'true']);
    expect(dry.status, dry.out).toBe(0);
    expect(dry.out).toMatch(/would drop artifact_boms_2001_01/);
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2001_01')).toBe(true);
    const wet = run('scanner-artifact-boms-retention.ts', ['12', 'false']);
    expect(wet.status, wet.out).toBe(0);
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2001_01')).toBe(false);
    expect(await db.query("SELECT to_regclass('scanner.artifact_boms_backup') IS NOT NULL AS kept")).toEqual([{ kept: true }]);
  });

  it('exits non-zero with a usage line on bad arguments or a bad PG_DSN', () => {
    expect(run('scanner-artifact-boms-retention.ts', ['twelve']).status).toBe(2);
    const bad = run('scanner-artifact-boms-ensure-partitions.ts', ['1'], { PG_DSN: 'Database=x;Password=hunter2' });
    expect(bad.status).toBe(2);
    expect(bad.out).toMatch(/Host is missing/);
    expect(bad.out).not.toContain('hunter2');
  });

  // An operator used to `backfill-kit partitions retention --mode detach` adds the flag to the script's arguments.
  it('retention refuses an argument past its two (exit 2) rather than ignore it: "12 false --mode detach" drops nothing', async () => {
    await db.query(
      `CREATE TABLE scanner.artifact_boms_2002_01 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2002-01-01 00:00:00+00') TO ('2002-02-01 00:00:00+00')`,
    );
    const r = run('scanner-artifact-boms-retention.ts', ['12', 'false', '--mode', 'detach']);
    expect(r.status, r.out).toBe(2);
    expect(r.out).toMatch(/usage: .*RETENTION_MODE=detach/s);
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).has('artifact_boms_2002_01')).toBe(true);
    expect(run('scanner-artifact-boms-ensure-partitions.ts', ['1', '2']).status).toBe(2);
  });
});
