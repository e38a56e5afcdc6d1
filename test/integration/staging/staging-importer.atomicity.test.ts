import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, waitForNoBackend, withApplicationName, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { scratch, TABLES } from './fixtures.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(here, '..', '..', '..');
const LARGE = 100_000;

let db: TestDatabase;
let small: string;
let medium: string;
let large: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const dir = scratch();
  small = join(dir, 'small.tar.zst');
  large = join(dir, 'large.tar.zst');
  medium = join(dir, 'medium.tar.zst');
  (
    await writeDataset(medium, {
      members: { 'linksets.ndjson': generateLinksets(70, 5), 'advisory_chunks.ndjson': generateAdvisoryChunks(60, 6) },
    })
  )._unsafeUnwrap();
  (
    await writeDataset(small, {
      members: { 'linksets.ndjson': generateLinksets(50, 1), 'advisory_chunks.ndjson': generateAdvisoryChunks(60, 2) },
    })
  )._unsafeUnwrap();
  (
    await writeDataset(large, {
      members: { 'linksets.ndjson': generateLinksets(LARGE, 3), 'advisory_chunks.ndjson': generateAdvisoryChunks(1000, 4) },
    })
  )._unsafeUnwrap();
}, 120_000);
afterAll(async () => {
  await db.drop();
});

async function snapshot(schema: string): Promise<string> {
  const [row] = await db.query<{ digest: string }>(
    `SELECT md5(string_agg(id || ':' || raw::text, ',' ORDER BY id COLLATE "C")) || '/' || count(*) AS digest FROM (SELECT id, raw FROM "${schema}".linksets_raw UNION ALL SELECT 'c/' || id, raw FROM "${schema}".advisory_chunks_raw) t`,
  );
  return row!.digest;
}

describe('atomicity', () => {
  for (const strategy of ['truncate', 'swap'] as const) {
    it(`SIGKILL of the importing process mid-COPY leaves the old contents (${strategy})`, async () => {
      const schema = `s_kill_${strategy}`;
      expect((await new StagingImporter({ pg: db.pool, schema, tables: TABLES }).import(small)).isOk()).toBe(true);
      const before = await snapshot(schema);
      const appName = `bk_kill_${strategy}`;
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(here, 'import-child.ts'), withApplicationName(db.url, appName), schema, large, strategy],
        {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
        child.once('exit', (code, signal) => r({ code, signal })),
      );
      let seen = 0;
      for await (const line of createInterface({ input: child.stdout })) {
        const m = /^ROWS (\d+)$/.exec(line);
        if (m) seen = Number(m[1]);
        if (seen >= 20_000) break;
        if (line === 'DONE' || line.startsWith('FAILED')) break;
      }
      expect(seen, 'child should be mid-import when killed').toBeGreaterThanOrEqual(20_000);
      expect(seen).toBeLessThan(LARGE);
      child.kill('SIGKILL');
      expect((await exited).signal).toBe('SIGKILL');
      await waitForNoBackend(db, appName);
      expect(await snapshot(schema)).toBe(before);
      // A swap loads each table on its own connection and commits it there, so
      // a killed swap may leave fresh tables behind: only under the library's
      // name, with its mark, and the next swap drops them.
      const left = await db.query<{ relname: string; mark: string | null }>(
        "SELECT relname, obj_description(oid, 'pg_class') AS mark FROM pg_class WHERE relkind = 'r' AND relname LIKE '\\_bk\\_stage%'",
      );
      if (strategy === 'truncate') expect(left).toEqual([]);
      for (const t of left) expect(t.mark).toMatch(/^@stella\/backfill-kit swap import [0-9a-f]{8}: new contents of /);
      // And a later import still works, and cleans up.
      const later = (await new StagingImporter({ pg: db.pool, schema, tables: TABLES }).import(small, { strategy }))._unsafeUnwrap();
      for (const t of left) expect(later.dropped).toContain(`${schema}.${t.relname}`);
      expect(await db.query("SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%'")).toEqual([]);
    });
  }

  it('swap: readers keep reading the old rows during the load; truncate: they wait for the commit', async () => {
    // A read issued a twentieth of the way into the load: under `swap` it
    // answers from the old table at once (50 rows); under `truncate` it
    // queues behind the import's lock and answers after the commit (all the
    // new rows). The counts prove which happened, with no timing involved.
    const outcomes: Record<string, number> = {};
    const lockHeldMs: Record<string, number> = {};
    for (const strategy of ['swap', 'truncate'] as const) {
      const schema = `s_readers_${strategy}`;
      const imp = new StagingImporter({ pg: db.pool, schema, tables: TABLES });
      expect((await imp.import(small)).isOk()).toBe(true);
      const reader = new pg.Client({ connectionString: db.url });
      await reader.connect();
      let probe: Promise<number> | undefined;
      const report = await imp.import(large, {
        strategy,
        batchBytes: 16 * 1024,
        progressEveryRows: 1000,
        onProgress: (p) => {
          if (p.phase === 'load' && p.rows >= 5_000 && probe === undefined) {
            probe = reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".linksets_raw`).then((r) => r.rows[0]!.n);
          }
        },
      });
      outcomes[strategy] = await probe!;
      await reader.end();
      lockHeldMs[strategy] = report._unsafeUnwrap().lock!.lockHeldMs;
    }
    expect(outcomes).toEqual({ swap: 50, truncate: LARGE });
    // truncate holds its lock through the whole load; swap only for the renames.
    expect(lockHeldMs.swap).toBeGreaterThanOrEqual(0);
    expect(lockHeldMs.swap).toBeLessThan(lockHeldMs.truncate!);
  });

  it('swap: a reader queued behind the swap reads the new table once it commits', async () => {
    const schema = 's_queued';
    const imp = new StagingImporter({ pg: db.pool, schema, tables: TABLES, lockTimeoutMs: 20_000 });
    expect((await imp.import(small)).isOk()).toBe(true);
    const holder = new pg.Client({ connectionString: db.url });
    const reader = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await reader.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT count(*) FROM "${schema}".linksets_raw`);
    const swapping = imp.import(medium, { strategy: 'swap' });
    const waiting = async (n: number): Promise<void> => {
      for (let i = 0; i < 400; i += 1) {
        const [row] = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE relation = '"${schema}".linksets_raw'::regclass AND NOT granted`,
        );
        if ((row?.n ?? 0) >= n) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('nobody queued');
    };
    await waiting(1); // the swap's LOCK waits for the holder
    const read = reader.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".linksets_raw`);
    await waiting(2); // and the reader waits behind the swap
    await holder.query('ROLLBACK');
    const report = (await swapping)._unsafeUnwrap();
    expect((await read).rows[0]?.n).toBe(70);
    expect(report.lock!.lockHeldMs).toBeGreaterThan(0);
    await holder.end();
    await reader.end();
    expect(await db.query("SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%'")).toEqual([]);
  });

  it('swap gives up with LOCK_TIMEOUT when a reader holds the table, and changes nothing', async () => {
    const schema = 's_locked';
    const imp = new StagingImporter({ pg: db.pool, schema, tables: TABLES, lockTimeoutMs: 200 });
    // The first import, which nothing holds up, under the default lock_timeout.
    expect((await new StagingImporter({ pg: db.pool, schema, tables: TABLES }).import(small)).isOk()).toBe(true);
    const before = await snapshot(schema);
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT count(*) FROM "${schema}".linksets_raw`);
    const r = await imp.import(small, { strategy: 'swap' });
    await holder.query('ROLLBACK');
    await holder.end();
    expect(r._unsafeUnwrapErr().code).toBe('LOCK_TIMEOUT');
    expect(await snapshot(schema)).toBe(before);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tags of the swap imports whose fresh tables are in `schema`. */
async function stageTags(schema: string): Promise<Set<string>> {
  const rows = await db.query<{ relname: string }>(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname LIKE '\\_bk\\_stage\\_%'",
    [schema],
  );
  return new Set(rows.map((r) => r.relname.split('_')[3]!));
}

/**
 * A swap import SIGKILLed again and again (an OOM killer that strikes at the
 * same point each time) after its loaders committed their fresh tables:
 * each killed import leaves those tables, as big as the data loaded so far.
 * The next import drops them before it loads, and that drop must stick even
 * when that import is killed too; otherwise one more dataset-sized copy
 * piles up per kill until an import finally gets through.
 */
describe('swap imports killed one after another', () => {
  it('leave the fresh tables of the last killed import only, and the next import that finishes drops those', async () => {
    const schema = 's_kills';
    expect((await new StagingImporter({ pg: db.pool, schema, tables: TABLES }).import(small, { strategy: 'swap' })).isOk()).toBe(true);
    const seen = new Set<string>();
    for (let round = 0; round < 3; round += 1) {
      const appName = `bk_kills_${round}`;
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(here, 'import-child.ts'), withApplicationName(db.url, appName), schema, large, 'swap'],
        { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
      // Killed as soon as a loader of this import committed a fresh table.
      let fresh: string | undefined;
      for (let i = 0; i < 6000 && fresh === undefined && child.exitCode === null; i += 1) {
        fresh = [...(await stageTags(schema))].find((t) => !seen.has(t));
        if (fresh === undefined) await sleep(5);
      }
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await waitForNoBackend(db, appName);
      expect(fresh, 'a loader committed a fresh table before the kill').toBeDefined();
      seen.add(fresh!);
      expect([...(await stageTags(schema))]).toEqual([fresh]);
    }
    const later = (await new StagingImporter({ pg: db.pool, schema, tables: TABLES }).import(small, { strategy: 'swap' }))._unsafeUnwrap();
    // The small dataset: 50 linksets and 60 advisory chunks.
    expect(later.rows).toBe(110);
    expect(await stageTags(schema)).toEqual(new Set());
    const [count] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${schema}".linksets_raw`);
    expect(count?.n).toBe('50');
  });
});
