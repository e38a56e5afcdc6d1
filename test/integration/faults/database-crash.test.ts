/**
 * Faults a release day brings: the DATABASE dies, not only the client. A
 * throwaway PostgreSQL of this file's own gets an immediate shutdown
 * (`pg_ctl stop -m immediate`: every backend quits mid-statement, nothing is
 * checkpointed, the next start replays the WAL) in the middle of a staging
 * import, a statements backfill and a partition `ensure` batch, then starts
 * again on the same data directory. What was committed must be all there,
 * and what was not must have left no trace.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createEmbeddedDatabase, startEmbeddedPostgres, type EmbeddedPostgres } from '../../support/embedded-pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../../../src/statements/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { dumpStatements, psql, seedDocuments } from '../statements/helpers.js';
import { TABLES } from '../staging/fixtures.js';

let work: string;
let server: EmbeddedPostgres;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bk-faults-'));
  server = await startEmbeddedPostgres(work, { crashSafe: true });
}, 120_000);
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A database of its own on the crashable server. */
const database = (name: string): Promise<string> => createEmbeddedDatabase(server, name);

/** A pool that survives its connections dying with the server (idle clients report the crash as 'error'). */
function poolOn(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  pools.push(pool);
  return pool;
}

/**
 * Starts a crash from inside a job's progress callback and blocks this thread until the server
 * refuses connections, so the job cannot run ahead of the crash on a slow machine (the crash
 * itself runs in the helper process, through pg_ctl). Resolves once the helper reports it stopped.
 */
function crashHolding(): Promise<void> {
  const crashed = server.crash(); // the command is on the helper's stdin before this returns
  const { hostname, port } = new URL(server.url);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && spawnSync('pg_isready', ['-q', '-h', hostname, '-p', port]).status === 0) Atomics.wait(pause, 0, 0, 20);
  return crashed;
}

/** Crashes the server and starts it again, resolving once it accepts connections after recovery. */
async function crashAndRestart(): Promise<void> {
  await server.crash();
  await server.restart();
}

/** The contents of both staging tables as one digest, read through psql (not the driver under test). */
function stagingDigest(url: string, schema: string): string {
  return psql(
    url,
    `SELECT md5(string_agg(id || ':' || raw::text, ',' ORDER BY id COLLATE "C")) || '/' || count(*) FROM (SELECT id, raw FROM "${schema}".linksets_raw UNION ALL SELECT 'c/' || id, raw FROM "${schema}".advisory_chunks_raw) t`,
  );
}

describe('an immediate shutdown of PostgreSQL', () => {
  it('in the middle of a staging import leaves the old contents, for both strategies', async () => {
    const url = await database('staging');
    const small = join(work, 'small.tar.zst');
    const large = join(work, 'large.tar.zst');
    (
      await writeDataset(small, {
        members: { 'linksets.ndjson': generateLinksets(50, 1), 'advisory_chunks.ndjson': generateAdvisoryChunks(60, 2) },
      })
    )._unsafeUnwrap();
    (
      await writeDataset(large, {
        members: { 'linksets.ndjson': generateLinksets(60_000, 3), 'advisory_chunks.ndjson': generateAdvisoryChunks(500, 4) },
      })
    )._unsafeUnwrap();
    for (const strategy of ['truncate', 'swap'] as const) {
      const schema = `crash_${strategy}`;
      const importer = new StagingImporter({ pg: poolOn(url), schema, tables: TABLES });
      (await importer.import(small, { strategy }))._unsafeUnwrap();
      const before = stagingDigest(url, schema);
      let crash: Promise<void> | undefined;
      const r = await importer.import(large, {
        strategy,
        batchBytes: 16 * 1024,
        progressEveryRows: 1000,
        onProgress: (p) => {
          if (p.rows >= 20_000) crash ??= crashHolding();
        },
      });
      expect(crash, 'the server should have been crashed mid-import').toBeDefined();
      await crash;
      await server.restart();
      expect(r.isErr() && `${r.error.code} ${r.error.message}`).toMatch(/^DB_CONNECTION /);
      expect(stagingDigest(url, schema)).toBe(before);
      // A swap may have committed a new table for one member before the crash; it carries the library's mark, and the next swap import drops it.
      const leftBehind = psql(
        url,
        "SELECT coalesce(string_agg(coalesce(obj_description(oid, 'pg_class'), 'UNMARKED ' || relname), E'\\n'), '') FROM pg_class WHERE relkind = 'r' AND relname LIKE '\\_bk\\_%'",
      );
      for (const mark of leftBehind.split('\n').filter((l) => l !== '')) expect(mark).toMatch(/^@stella\/backfill-kit swap import /);
      // The next import works on the recovered server.
      (await new StagingImporter({ pg: poolOn(url), schema, tables: TABLES }).import(small, { strategy }))._unsafeUnwrap();
      expect(stagingDigest(url, schema)).toBe(before);
      expect(psql(url, "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_bk\\_%'")).toBe('0');
    }
  }, 240_000);

  it('in the middle of a statements backfill: the resumed run writes the same statements and report hash as an uninterrupted one', async () => {
    const [referenceUrl, victimUrl] = [await database('statements_ref'), await database('statements_victim')];
    const seed = { seed: 14, count: 2000, brokenRatio: 0.04 };
    await seedDocuments(referenceUrl, seed);
    await seedDocuments(victimUrl, seed);
    const backfiller = (url: string): StatementBackfiller => {
      const pool = poolOn(url);
      return new StatementBackfiller({
        source: new PgRawDocumentSource({ pg: pool }),
        sink: new PgStatementSink({ pg: pool }),
        normalizers: defaultVexNormalizers,
      });
    };
    const clean = (await backfiller(referenceUrl).run({ runId: 'release', batchSize: 100 }))._unsafeUnwrap();

    let crash: Promise<void> | undefined;
    const interrupted = await backfiller(victimUrl).run({
      runId: 'release',
      batchSize: 100,
      // Not awaited: the next batch is in flight when the server goes down.
      onProgress: (p) => {
        if (p.evaluated >= 500) crash ??= crashHolding();
      },
    });
    expect(crash, 'the server should have been crashed mid-backfill').toBeDefined();
    await crash;
    await server.restart();
    expect(interrupted.isErr() && `${interrupted.error.code} ${interrupted.error.message}`).toMatch(/^DB_CONNECTION /);
    const checkpointed = Number(psql(victimUrl, "SELECT evaluated FROM vex.statement_backfill_checkpoints WHERE run_id = 'release'"));
    expect(checkpointed).toBeGreaterThanOrEqual(500);
    expect(checkpointed).toBeLessThan(seed.count);
    // What survived the crash matches the checkpoint: claims never run ahead of it.
    expect(
      psql(
        victimUrl,
        "SELECT (SELECT count(*) FROM vex.statements) - claims_written FROM vex.statement_backfill_checkpoints WHERE run_id = 'release'",
      ),
    ).toBe('0');

    const resumed = (await backfiller(victimUrl).run({ runId: 'release', batchSize: 100 }))._unsafeUnwrap();
    expect(resumed.resumed).toBe(true);
    expect(resumed.text).toBe(clean.text);
    expect(resumed.reportSha256).toBe(clean.reportSha256);
    const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
    expect(sha(dumpStatements(victimUrl))).toBe(sha(dumpStatements(referenceUrl)));
  }, 240_000);

  it('in the middle of a partition ensure batch: the next ensure completes, every slot exactly once', async () => {
    const url = await database('partitions');
    psql(
      url,
      `CREATE SCHEMA scanner; CREATE TABLE scanner.artifact_boms (build_id text NOT NULL, inserted_at timestamptz NOT NULL, PRIMARY KEY (build_id, inserted_at)) PARTITION BY RANGE (inserted_at);
      CREATE TABLE scanner.artifact_boms_default PARTITION OF scanner.artifact_boms DEFAULT;
      INSERT INTO scanner.artifact_boms SELECT 'b' || g, timestamptz '2027-01-01 00:00:00+00' + (g || ' hours')::interval FROM generate_series(1, 2000) g;`,
    );
    const manager = (): PartitionManager =>
      new PartitionManager({
        pg: poolOn(url),
        table: 'scanner.artifact_boms',
        column: 'inserted_at',
        now: new Date('2026-11-23T00:00:00Z'),
      });
    let crash: Promise<void> | undefined;
    const r = await manager().ensure({
      ahead: 60,
      batchSize: 4,
      onProgress: (p) => {
        if (p.done >= 8) crash ??= crashHolding();
      },
    });
    expect(crash, 'the server should have been crashed mid-ensure').toBeDefined();
    await crash;
    await server.restart();
    expect(r.isErr() && `${r.error.code} ${r.error.message}`).toMatch(/^DB_CONNECTION /);
    const survived = Number(psql(url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'scanner.artifact_boms'::regclass")) - 1;
    expect(survived).toBeGreaterThanOrEqual(8);
    expect(survived).toBeLessThan(61);

    const done = (await manager().ensure({ ahead: 60, batchSize: 4 }))._unsafeUnwrap();
    expect(done.created.length + done.existing.length).toBe(61);
    const bounds = psql(
      url,
      `SELECT string_agg(pg_get_expr(c.relpartbound, c.oid), E'\\n' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'scanner.artifact_boms'::regclass AND c.relname <> 'artifact_boms_default'`,
    ).split('\n');
    expect(bounds).toHaveLength(61);
    const pairs = bounds.map((b) => /FROM \('(.*)'\) TO \('(.*)'\)/.exec(b)!.slice(1));
    for (let i = 1; i < pairs.length; i++) expect(pairs[i]![0]).toBe(pairs[i - 1]![1]);
    // Every row lives in its month, none is left in (or lost from) the default partition.
    expect(psql(url, 'SELECT count(*) FROM scanner.artifact_boms_default')).toBe('0');
    expect(psql(url, 'SELECT count(*) FROM scanner.artifact_boms')).toBe('2000');
    await crashAndRestart();
    expect((await manager().ensure({ ahead: 60 }))._unsafeUnwrap().created).toEqual([]);
  }, 240_000);
});
