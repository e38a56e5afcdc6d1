/**
 * The partitions CLI as an operator's shell meets it: what the environment
 * may decide (only a safer run), and the exit status of a blocked ensure.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { catalogBounds, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
const NOW = ['--now', '2026-11-23T10:00:00Z'];

useScannerDatabase((created) => (db = created));

const names = async (): Promise<string[]> => [...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()].sort();

/** Sixteen months of history, three of them past a 12-month retention. */
async function history(): Promise<string[]> {
  const r = await cli(['partitions', 'ensure', '--ahead', '0', '--behind', '15', ...NOW, '--quiet'], { env: { PGURI: db.url } });
  expect(r.code, r.stderr).toBe(0);
  return names();
}

describe('DRY_RUN in the environment can only make retention safer', () => {
  it.each(['false', '0'])('DRY_RUN=%s leaves retention 12 a dry run and says how to apply', async (value) => {
    const before = await history();
    expect(before).toHaveLength(16);
    const r = await cli(['partitions', 'retention', '12', ...NOW], { env: { PGURI: db.url, DRY_RUN: value } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('would drop artifact_boms_2025_08');
    expect(r.stdout).toContain(`DRY_RUN=${value} in the environment does not turn the dry run off`);
    expect(await names()).toEqual(before);
    const flag = await cli(['partitions', 'retention', '--keep', '12', ...NOW, '--json'], { env: { PGURI: db.url, DRY_RUN: value } });
    expect(jsonOf(flag).report.dryRun).toBe(true);
    expect(await names()).toEqual(before);
  });

  it('DRY_RUN=1 forces a dry run even over false or --no-dry-run', async () => {
    const before = await history();
    for (const args of [
      ['12', 'false'],
      ['--keep', '12', '--no-dry-run'],
    ]) {
      const r = await cli(['partitions', 'retention', ...args, ...NOW], { env: { PGURI: db.url, DRY_RUN: '1' } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('DRY_RUN=1 in the environment forces a dry run');
      expect(await names()).toEqual(before);
    }
  });

  it('an explicit false drops, whatever DRY_RUN=0 says; a DRY_RUN that is no boolean is refused', async () => {
    const before = await history();
    const r = await cli(['partitions', 'retention', '12', 'false', ...NOW], { env: { PGURI: db.url, DRY_RUN: '0' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('dropped artifact_boms_2025_08');
    expect(await names()).toEqual(before.slice(3));
    const bad = await cli(['partitions', 'retention', '12', 'false', ...NOW], { env: { PGURI: db.url, DRY_RUN: 'maybe' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('DRY_RUN must be true or false');
    expect(await names()).toEqual(before.slice(3));
  });

  it('an empty dry-run argument (an unset variable) or one that contradicts --dry-run is refused, and nothing is dropped', async () => {
    const before = await history();
    for (const args of [
      ['12', ''],
      ['12', ' '],
      ['12', 'false', '--dry-run'],
      ['12', 'true', '--no-dry-run'],
    ]) {
      const r = await cli(['partitions', 'retention', ...args, ...NOW], { env: { PGURI: db.url } });
      expect(r.code, `${JSON.stringify(args)}: ${r.stdout}`).toBe(2);
      expect(r.stderr).toMatch(/the dry-run argument (is empty|says)/);
      expect(await names()).toEqual(before);
    }
  });

  it('help says the variable only forces the dry run on', async () => {
    const r = await cli(['partitions', 'retention', '--help']);
    expect(r.stdout).toContain('env: DRY_RUN=1 forces it on');
  });
});

describe('the count: its argument and its flag', () => {
  it('a count argument that contradicts --keep or --ahead is refused, and nothing is dropped or created', async () => {
    const before = await history();
    for (const args of [
      ['retention', '1', 'false', '--keep', '12'],
      ['retention', '1', '--keep', '12', '--no-dry-run'],
      ['ensure', '3', '--ahead', '1'],
    ]) {
      const r = await cli(['partitions', ...args, ...NOW], { env: { PGURI: db.url } });
      expect(r.code, `${JSON.stringify(args)}: ${r.stdout}`).toBe(2);
      expect(r.stderr).toMatch(/the count argument says \d+ but --(keep|ahead) says \d+: give one of them/);
      expect(await names()).toEqual(before);
    }
    // The same count both ways is no contradiction.
    const same = await cli(['partitions', 'retention', '12', 'false', '--keep', '12', ...NOW], { env: { PGURI: db.url } });
    expect(same.code, same.stderr).toBe(0);
    expect(await names()).toEqual(before.slice(3));
  });
});

describe('partitions ensure with a slot name held by a standalone table', () => {
  it('creates the other slots and exits non-zero naming the table', async () => {
    await db.query('CREATE TABLE scanner.artifact_boms_2026_12 (LIKE scanner.artifact_boms INCLUDING ALL)');
    const r = await cli(['partitions', 'ensure', '2', ...NOW, '--json'], { env: { PGURI: db.url } });
    expect(r.code).toBe(6);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('PARTITION_NAME_TAKEN');
    expect(doc.error?.message).toContain('scanner.artifact_boms_2026_12');
    // The slots ensure did create are the report, printed once.
    expect(doc.report.created.map((c: { name: string }) => c.name)).toEqual(['artifact_boms_2026_11', 'artifact_boms_2027_01']);
    expect(doc.error).not.toHaveProperty('partial');
    expect(await names()).toEqual(['artifact_boms_2026_11', 'artifact_boms_2027_01']);
    const text = await cli(['partitions', 'ensure', '2', ...NOW], { env: { PGURI: db.url } });
    expect(text.code).toBe(6);
    expect(text.stderr).toContain('PARTITION_NAME_TAKEN');
    expect(text.stderr).toContain('backfill-kit partitions attach scanner.artifact_boms_2026_12');
  });
});

describe('partitions attach of a month retention dropped', () => {
  it('attaches it and warns on stderr that the next retention run drops it again, with the keep and the rename', async () => {
    await db.query('CREATE TABLE scanner.artifact_boms_2025_03 (LIKE scanner.artifact_boms)');
    const r = await cli(['partitions', 'attach', 'scanner.artifact_boms_2025_03', ...NOW], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('attached artifact_boms_2025_03');
    expect(r.stderr).toContain('keep 19 or less');
    expect(r.stderr).toContain('RENAME TO "artifact_boms_2025_03_restored"');
    expect(await names()).toEqual(['artifact_boms_2025_03']);
  });
});

describe('--now', () => {
  it('without an offset is UTC, whatever the host TZ (psql prints timestamps without one); a sub-millisecond or impossible one is refused', async () => {
    // 23:30 on 30 November in New York is already 1 December in UTC: read as local time, the current month would be December.
    const r = await cli(['partitions', 'ensure', '--ahead', '0', '--behind', '0', '--now', '2026-11-30 23:30:00'], {
      env: { PGURI: db.url, TZ: 'America/New_York' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(await names()).toEqual(['artifact_boms_2026_11']);
    for (const [now, why] of [
      ['2026-11-30T23:30:00.0005Z', '--now must be given to the millisecond at most'],
      ['2026-02-30', '--now is not a valid date and time'],
      ['yesterday', '--now must be an ISO-8601 timestamp'],
    ] as const) {
      const bad = await cli(['partitions', 'ensure', '--ahead', '0', '--now', now], { env: { PGURI: db.url } });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(why);
    }
  });
});

describe('partitions retention --concurrently killed (SIGKILL) while its detach waits', () => {
  it('the next run drops the partition the killed run detached, and the kept months stay', async () => {
    await history();
    await db.query(`INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at)
      SELECT 'b' || g, md5(g::text), timestamptz '2025-08-01 00:00:00+00' + (g || ' days')::interval FROM generate_series(0, 479) g`);
    const [{ kept } = { kept: 0 }] = await db.query<{ kept: number }>(
      "SELECT count(*)::int AS kept FROM scanner.artifact_boms WHERE inserted_at >= '2025-11-01 00:00:00+00'",
    );
    // An open snapshot on the table makes the concurrent detach wait in its second phase.
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await reader.query('SELECT count(*) FROM scanner.artifact_boms');
    let pid = 0;
    const killed = cli(['partitions', 'retention', '12', 'false', '--concurrently', ...NOW], {
      env: { PGURI: db.url },
      onSpawn: (p) => (pid = p),
    });
    let backend: number | undefined;
    for (let i = 0; backend === undefined; i++) {
      if (i > 800) throw new Error('the concurrent detach never started waiting');
      await new Promise((r) => setTimeout(r, 25));
      const [row] = await db.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE '%DETACH PARTITION%CONCURRENTLY%' AND wait_event = 'virtualxid' AND pid <> pg_backend_pid()",
      );
      backend = row?.pid;
    }
    process.kill(pid, 'SIGKILL');
    expect((await killed).code).toBe(null);
    await reader.query('ROLLBACK');
    await reader.end();
    // The orphaned backend completes the detach once the snapshot is gone, and nobody drops the table.
    for (let i = 0; ; i++) {
      const rows = await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backend]);
      if (rows.length === 0) break;
      if (i > 400) throw new Error('the orphaned detach never finished');
      await new Promise((r) => setTimeout(r, 25));
    }
    const r = await cli(['partitions', 'retention', '12', 'false', '--concurrently', ...NOW], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(0);
    const left = await db.query<{ name: string }>(
      "SELECT relname::text AS name FROM pg_class WHERE relnamespace = 'scanner'::regnamespace AND relkind = 'r' AND relname ~ '^artifact_boms_2025_(0[89]|10)$'",
    );
    expect(left).toEqual([]);
    const [after] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM scanner.artifact_boms');
    expect(after?.n).toBe(kept);
  });
});

describe('partitions list of partitions whose bounds are not at midnight UTC', () => {
  // Made in another time zone (pg_partman under America/Sao_Paulo): their days alone read as the managed months, so
  // the list hid why ensure said they overlap.
  it('prints such a bound with its time, and a midnight one as its day', async () => {
    await db.query(`SET TimeZone = 'America/Sao_Paulo';
      CREATE TABLE scanner.artifact_boms_p2026_10 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-10-01') TO ('2026-11-01');
      RESET TimeZone;
      CREATE TABLE scanner.artifact_boms_2026_12 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')`);
    const r = await cli(['partitions', 'list'], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('scanner.artifact_boms_p2026_10  [2026-10-01T03:00:00Z, 2026-11-01T03:00:00Z)');
    expect(r.stdout).toContain('scanner.artifact_boms_2026_12  [2026-12-01, 2027-01-01)');
  });
});
