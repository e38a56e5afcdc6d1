import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { abortedJsonOf, type CliRun, cli, interruptedWhileLocked, jsonOf } from './cli-harness.js';

const NOW = '2026-11-23T10:00:00Z';
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.query('CREATE SCHEMA scanner');
});
afterAll(async () => {
  await db.drop();
});

async function partitions(parent: string): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    'SELECT c.relname AS name FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1',
    [parent],
  );
  return rows.map((r) => r.name);
}

/** {@link interruptedWhileLocked} with `mode` held on the parent, for a command given a 60 s lock timeout. */
function interruptedHoldingParent(mode: string, statement: string, args: readonly string[], signal: NodeJS.Signals): Promise<CliRun> {
  return interruptedWhileLocked(
    db,
    { lock: `LOCK TABLE scanner.artifact_boms IN ${mode} MODE`, waitsOn: `%${statement}%` },
    [...args, '--now', NOW, '--lock-timeout-ms', '60000'],
    signal,
  );
}

describe('Ctrl-C while partitions retention, ensure or attach waits for a reader of the parent', () => {
  it.each([['SIGINT'], ['SIGTERM']] as const)(
    '%s: retention drops nothing once the lock is granted; exit 130, ABORTED saying so',
    async (signal) => {
      await db.query('DROP TABLE IF EXISTS scanner.artifact_boms');
      await db.query(
        'CREATE TABLE scanner.artifact_boms (canonical_bom_sha256 text NOT NULL, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at)',
      );
      const made = await cli(['partitions', 'ensure', '--ahead', '0', '--behind', '2', '--now', NOW, '--quiet'], {
        env: { PGURI: db.url },
      });
      expect(made.code, made.stderr).toBe(0);
      const before = await partitions('scanner.artifact_boms');
      expect(before).toHaveLength(3);

      const r = await interruptedHoldingParent(
        'ACCESS SHARE',
        'DROP TABLE',
        ['partitions', 'retention', '--keep', '0', '--no-dry-run'],
        signal,
      );
      expect(await partitions('scanner.artifact_boms')).toEqual(before);
      abortedJsonOf(r, /artifact_boms_2026_09 was not dropped, and nothing after the signal was committed/);
    },
    120_000,
  );

  it.each([['SIGINT'], ['SIGTERM']] as const)(
    '%s: ensure creates nothing once the lock is granted; exit 130, ABORTED saying so',
    async (signal) => {
      await db.query('DROP TABLE IF EXISTS scanner.artifact_boms');
      await db.query(
        'CREATE TABLE scanner.artifact_boms (canonical_bom_sha256 text NOT NULL, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at)',
      );
      const r = await interruptedHoldingParent(
        'SHARE',
        'ATTACH PARTITION',
        ['partitions', 'ensure', '--ahead', '1', '--behind', '0'],
        signal,
      );
      expect(await partitions('scanner.artifact_boms')).toEqual([]);
      abortedJsonOf(r, /artifact_boms_2026_11, artifact_boms_2026_12 were not created, and nothing after the signal was committed/);
    },
    120_000,
  );
  it.each([['SIGINT'], ['SIGTERM']] as const)(
    '%s: attach (the rollback) attaches nothing once the lock is granted; exit 130, ABORTED saying so',
    async (signal) => {
      await db.query('DROP TABLE IF EXISTS scanner.artifact_boms, scanner.artifact_boms_2025_09');
      await db.query(
        'CREATE TABLE scanner.artifact_boms (canonical_bom_sha256 text NOT NULL, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at)',
      );
      await db.query('CREATE TABLE scanner.artifact_boms_2025_09 (LIKE scanner.artifact_boms)');
      await db.query("INSERT INTO scanner.artifact_boms_2025_09 VALUES ('a', '2025-09-10T00:00:00Z')");
      const r = await interruptedHoldingParent(
        'SHARE',
        'ATTACH PARTITION',
        ['partitions', 'attach', 'scanner.artifact_boms_2025_09'],
        signal,
      );
      expect(await partitions('scanner.artifact_boms')).toEqual([]);
      abortedJsonOf(r, /artifact_boms_2025_09 was not attached, and nothing after the signal was committed/);
      // The restored table is left as it was: its rows, and no bounds CHECK of ours.
      const checks = await db.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_catalog.pg_constraint WHERE conrelid = 'scanner.artifact_boms_2025_09'::regclass AND contype = 'c'",
      );
      expect(checks[0]?.n).toBe('0');
      expect(await db.query('SELECT canonical_bom_sha256 FROM scanner.artifact_boms_2025_09')).toEqual([{ canonical_bom_sha256: 'a' }]);
    },
    120_000,
  );
  it('SIGINT: attach beside a default partition moves no rows out of it once the lock is granted', async () => {
    await db.query('DROP TABLE IF EXISTS scanner.artifact_boms, scanner.artifact_boms_2025_09');
    await db.query(
      'CREATE TABLE scanner.artifact_boms (canonical_bom_sha256 text NOT NULL, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at)',
    );
    await db.query('CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT');
    await db.query("INSERT INTO scanner.artifact_boms VALUES ('parked', '2025-09-20T00:00:00Z')");
    await db.query('CREATE TABLE scanner.artifact_boms_2025_09 (LIKE scanner.artifact_boms)');
    const r = await interruptedHoldingParent(
      'SHARE',
      'LOCK TABLE ONLY',
      ['partitions', 'attach', 'scanner.artifact_boms_2025_09'],
      'SIGINT',
    );
    expect(await partitions('scanner.artifact_boms')).toEqual(['artifact_boms_default']);
    expect(await db.query('SELECT canonical_bom_sha256 FROM scanner.artifact_boms_default')).toEqual([{ canonical_bom_sha256: 'parked' }]);
    expect(r.code, r.stderr).toBe(130);
    expect(jsonOf(r).error?.message).toMatch(/artifact_boms_2025_09 was not attached and its rows stay in the default partition/);
  }, 120_000);
});
