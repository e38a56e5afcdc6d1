/**
 * `staging` case: StagingImporter end to end (tar.zst → SHA-256 → parse →
 * validate → COPY → count check → commit) into `(id text pk, raw jsonb)`,
 * against, in the same run:
 * - `psql \copy` of a pre-made COPY text file into the same kind of table
 *   (the practical limit);
 * - the corrected seed pipeline, `jq -rc '[._id, tojson] | @tsv'` into text
 *   COPY.
 * The importer is given the tarball's SHA-256 to check (`expectedSha256`).
 * Also: the `swap` strategy's lock time, and peak RSS at a quarter of the
 * input to show memory stays flat. BENCH_ROWS scales it (default 1,000,000);
 * BENCH_RUNS repeats each measurement (median; default 1).
 *
 * Then a two-member dataset (BENCH_ROWS rows split evenly): a `swap` import
 * that loads each table on its own connection, the same import on one
 * pg.Client (tables one after another, as every swap did before), and one
 * `psql` running `\copy` of both members' pre-made text files. Each line
 * also says where the CPU went (`cpu`): the importer process, its main
 * thread, its server backends, and psql's backend, read from the server's
 * /proc (a superuser on the same host; null otherwise). On a machine of
 * `cores` cores, no import can beat (process + server CPU) / cores.
 * BENCH_STAGING_ONLY=two skips the single-member part.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, renameSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { readDataset, writeDataset } from '../../src/dataset/index.js';
import { generateLinksets } from '../../src/testing/index.js';
import { encodeCopyField } from '../../src/staging/copy-text-encoding.js';
import type { StagingStrategy } from '../../src/staging/index.js';
import { benchDataset } from '../dataset-fixture.js';
import { BENCH_TMP, cpuSecondsOfProcStat, envInt, median, report, timeShell, toolsFor, withScratchDatabase } from '../lib.js';

const RUNS = envInt('BENCH_RUNS', 1);
const MEMBER = 'linksets.ndjson';

interface ChildResult {
  rows: number;
  seconds: number;
  peakRssMiB: number;
  lockHeldMs: number;
  sha256: string;
  /** The child's CPU time, all threads, and its main thread's alone (null before Node 23.9). */
  cpuSeconds: number;
  mainThreadCpuSeconds: number | null;
  /** import-swap.mjs: `/proc/<pid>/stat` of each server backend the import opened (empty when the server would not say). */
  serverStats?: string[];
}

/** Runs one measured import in a fresh plain-node process on dist/ (npm run bench builds first), so peak RSS is the importer's own. */
function runChild(child: string, args: string[], nodeFlags: string[] = []): ChildResult {
  const script = fileURLToPath(new URL(`../children/${child}`, import.meta.url));
  const r = spawnSync(process.execPath, [...nodeFlags, script, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`importer child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildResult;
}

function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function runImport(url: string, file: string, strategy: StagingStrategy, nodeFlags: string[] = []): ChildResult {
  return runChild('import-dataset.mjs', [url, file, strategy, sha256Of(file), MEMBER], nodeFlags);
}

/** The pre-made text-format file psql loads for one member: written once per dataset. */
async function copyTextFile(file: string, member: string, out: string): Promise<string> {
  if (existsSync(out)) return out;
  const stream = createWriteStream(`${out}.part`);
  for await (const m of readDataset(file)) {
    if (m.name !== member) continue;
    for await (const batch of m.recordBatches()) {
      let text = '';
      for (const r of batch) text += `${encodeCopyField(String(r.value._id))}\t${encodeCopyField(r.raw)}\n`;
      if (!stream.write(text)) await new Promise<void>((res) => stream.once('drain', () => res()));
    }
  }
  await new Promise<void>((res) => stream.end(() => res()));
  renameSync(`${out}.part`, out);
  return out;
}

const started = Date.now();
/** Step timings on stderr, so a slow default run shows where the time went. */
function step(what: string): void {
  process.stderr.write(`[staging bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${what}\n`);
}

const TWO_MEMBERS = { 'part-a.ndjson': 'two_a', 'part-b.ndjson': 'two_b' } as const;

/** BENCH_ROWS linkset records split over two members of equal size, built once per size. */
async function twoMemberDataset(rows: number): Promise<string> {
  const file = join(BENCH_TMP, `staging-two-${rows}.tar.zst`);
  if (existsSync(file)) return file;
  const half = Math.floor(rows / 2);
  const written = await writeDataset(`${file}.part.tar.zst`, {
    members: { 'part-a.ndjson': generateLinksets(half, 21), 'part-b.ndjson': generateLinksets(rows - half, 22) },
    level: 3,
  });
  if (written.isErr()) throw written.error;
  renameSync(`${file}.part.tar.zst`, file);
  return file;
}

/** Two members side by side: parallel swap, single-connection swap, psql \copy of both. */
async function twoMembers(db: pg.Client, url: string, rows: number): Promise<void> {
  const file = await twoMemberDataset(rows);
  const withPsql = toolsFor('staging: the two-member psql \\copy baseline', ['psql']);
  const texts = withPsql
    ? await Promise.all(Object.keys(TWO_MEMBERS).map((m) => copyTextFile(file, m, join(BENCH_TMP, `staging-two-${rows}-${m}.copy.txt`))))
    : [];
  step('two-member dataset ready');
  for (const t of ['two_a', 'two_b', 'psql_a', 'psql_b'])
    await db.query(`CREATE TABLE bench.${t} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
  const count = async (t: string): Promise<number> => Number((await db.query(`SELECT count(*) AS n FROM bench.${t}`)).rows[0]?.n);
  const args = (mode: 'pool' | 'client'): string[] => [url, file, mode, sha256Of(file), JSON.stringify(TWO_MEMBERS)];
  const psqlTimes: number[] = [];
  const psqlServerCpu: number[] = [];
  const parallel: ChildResult[] = [];
  const serial: ChildResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (withPsql) await psqlRun();
    // Alternate which import goes first, so neither always follows psql.
    for (const mode of i % 2 === 0 ? (['pool', 'client'] as const) : (['client', 'pool'] as const)) {
      await db.query('CHECKPOINT');
      step(`two members: swap (${mode})`);
      (mode === 'pool' ? parallel : serial).push(runChild('import-swap.mjs', args(mode)));
      if ((await count('two_a')) + (await count('two_b')) !== rows) throw new Error('the importer loaded the wrong number of rows');
    }
  }
  async function psqlRun(): Promise<void> {
    await db.query('TRUNCATE bench.psql_a, bench.psql_b');
    await db.query('CHECKPOINT');
    step('two members: psql');
    // Then the backend prints its own /proc stat line (the server CPU of both
    // \copy), if the server lets this user read it; that alone may fail.
    const psql = await timeShell(
      `psql -v ON_ERROR_STOP=1 -qAt '${url}' -c "\\copy bench.psql_a (id, raw) from '${texts[0]}'" -c "\\copy bench.psql_b (id, raw) from '${texts[1]}'" -c '\\set ON_ERROR_STOP 0' -c "SELECT pg_read_file('/proc/self/stat')" -c '\\set ON_ERROR_STOP 1'`,
    );
    psqlTimes.push(psql.seconds);
    const stat = psql.stdout.split('\n').find((line) => line.includes(') '));
    if (stat !== undefined) psqlServerCpu.push(cpuSecondsOfProcStat(stat));
    if ((await count('psql_a')) + (await count('psql_b')) !== rows) throw new Error('psql \\copy loaded the wrong number of rows');
  }
  const psqlRate = withPsql ? rows / median(psqlTimes) : null;
  const serialRate = rows / median(serial.map((r) => r.seconds));
  const psqlCpu = psqlServerCpu.length === RUNS ? median(psqlServerCpu) : null;
  for (const [name, results] of [
    ['parallel', parallel],
    ['single-connection', serial],
  ] as const) {
    const seconds = median(results.map((r) => r.seconds));
    report({
      case: `staging.swap.two-members.${name}`,
      n: rows,
      seconds,
      throughput: rows / seconds,
      unit: 'rows/s',
      peakRssMiB: Math.max(...results.map((r) => r.peakRssMiB)),
      lockHeldMs: median(results.map((r) => r.lockHeldMs)),
      baseline: psqlRate === null ? null : 'psql \\copy of both members (pre-made text files, one psql)',
      baselineThroughput: psqlRate,
      ratio: psqlRate === null ? null : rows / seconds / psqlRate,
      ratioVsSingleConnection: rows / seconds / serialRate,
      runs: results.map((r) => Number(r.seconds.toFixed(3))),
      psqlRuns: psqlTimes.map((s) => Number(s.toFixed(3))),
      cpu: cpuAccount(results, psqlCpu),
    });
  }
}

/**
 * Where the CPU went, medians in seconds: the importer's process (all its
 * threads, and its main thread alone), the server backends it opened, and
 * one psql's backend for both \copy. On a machine of `cores` cores no
 * import can finish faster than (process + server) / cores, whatever it
 * runs in parallel.
 */
function cpuAccount(results: readonly ChildResult[], psqlServer: number | null): Record<string, number | null> {
  const round = (x: number | null): number | null => (x === null ? null : Number(x.toFixed(3)));
  const server = results.every((r) => (r.serverStats?.length ?? 0) > 0)
    ? median(results.map((r) => r.serverStats!.reduce((sum, stat) => sum + cpuSecondsOfProcStat(stat), 0)))
    : null;
  const node = median(results.map((r) => r.cpuSeconds));
  const main = results.every((r) => r.mainThreadCpuSeconds !== null) ? median(results.map((r) => r.mainThreadCpuSeconds!)) : null;
  return {
    node: round(node),
    nodeMainThread: round(main),
    server: round(server),
    total: round(server === null ? null : node + server),
    psqlServer: round(psqlServer),
    cores: availableParallelism(),
  };
}

async function main(): Promise<void> {
  const rows = envInt('BENCH_ROWS', 1_000_000);
  await withScratchDatabase('staging', async (url) => {
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    // The drop at the end ends this session too.
    db.on('error', () => undefined);
    try {
      await db.query('CREATE SCHEMA bench');
      if (process.env.BENCH_STAGING_ONLY !== 'two') await singleMember(db, url, rows);
      await twoMembers(db, url, rows);
    } finally {
      await db.end();
    }
  });
}

async function singleMember(db: pg.Client, url: string, rows: number): Promise<void> {
  const { file } = await benchDataset(rows);
  const quarter = await benchDataset(Math.max(1, Math.floor(rows / 4)));
  step('datasets ready');
  const withPsql = toolsFor('staging: the psql \\copy baseline', ['psql']);
  const withJq = toolsFor('staging: the jq pipeline baseline', ['zstd', 'tar', 'jq', 'psql']);
  const text = withPsql ? await copyTextFile(file, MEMBER, join(BENCH_TMP, `staging-${rows}.copy.txt`)) : '';
  step('copy text file ready');
  {
    for (const t of ['importer_t', 'psql_t', 'jq_t']) await db.query(`CREATE TABLE bench.${t} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    const count = async (t: string): Promise<number> => Number((await db.query(`SELECT count(*) AS n FROM bench.${t}`)).rows[0]?.n);

    const psqlTimes: number[] = [];
    const jqTimes: number[] = [];
    const truncate: ChildResult[] = [];
    const swap: ChildResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (withPsql) {
        await db.query('TRUNCATE bench.psql_t');
        await db.query('CHECKPOINT');
        step('psql');
        psqlTimes.push((await timeShell(`psql -v ON_ERROR_STOP=1 -q '${url}' -c "\\copy bench.psql_t (id, raw) from '${text}'"`)).seconds);
        if ((await count('psql_t')) !== rows) throw new Error('psql \\copy loaded the wrong number of rows');
      }

      if (withJq) {
        await db.query('TRUNCATE bench.jq_t');
        await db.query('CHECKPOINT');
        step('jq');
        jqTimes.push(
          (
            await timeShell(
              `zstd -dc '${file}' | tar -xO ${MEMBER} | jq -rc '[._id, tojson] | @tsv' | psql -v ON_ERROR_STOP=1 -q '${url}' -c "\\copy bench.jq_t (id, raw) from stdin"`,
            )
          ).seconds,
        );
        if ((await count('jq_t')) !== rows) throw new Error('the jq pipeline loaded the wrong number of rows');
      }

      await db.query('TRUNCATE bench.importer_t');
      await db.query('CHECKPOINT');
      step('importer truncate');
      truncate.push(runImport(url, file, 'truncate'));
      await db.query('CHECKPOINT');
      step('importer swap');
      swap.push(runImport(url, file, 'swap'));
      if ((await count('importer_t')) !== rows) throw new Error('the importer loaded the wrong number of rows');
    }
    step('importer quarter input');
    const small = runImport(url, quarter.file, 'truncate');
    // Most of the RSS above the reader's is V8's young generation growing to
    // its default 16 MiB semi-spaces under JSON.parse's allocation rate; this
    // run shows what the importer itself needs.
    step('importer with --max-semi-space-size=1');
    const smallYoung = runImport(url, file, 'truncate', ['--max-semi-space-size=1']);
    step('done');

    const psqlSec = withPsql ? median(psqlTimes) : null;
    const jqSec = withJq ? median(jqTimes) : null;
    const psqlRate = psqlSec === null ? null : rows / psqlSec;
    const jqRate = jqSec === null ? null : rows / jqSec;
    for (const [strategy, results] of [
      ['truncate', truncate],
      ['swap', swap],
    ] as const) {
      const seconds = median(results.map((r) => r.seconds));
      const rate = rows / seconds;
      report({
        case: `staging.import.${strategy}`,
        n: rows,
        seconds,
        throughput: rate,
        unit: 'rows/s',
        peakRssMiB: Math.max(...results.map((r) => r.peakRssMiB)),
        ...(strategy === 'truncate'
          ? { peakRssMiBQuarterInput: small.peakRssMiB, peakRssMiBSemiSpace1: smallYoung.peakRssMiB, secondsSemiSpace1: smallYoung.seconds }
          : {}),
        lockHeldMs: median(results.map((r) => r.lockHeldMs)),
        baseline: psqlRate === null ? null : 'psql \\copy (pre-made text file)',
        baselineThroughput: psqlRate,
        ratio: psqlRate === null ? null : rate / psqlRate,
        jqThroughput: jqRate,
        ratioVsJq: jqRate === null ? null : rate / jqRate,
      });
    }
    if (psqlSec !== null && psqlRate !== null)
      report({
        case: 'staging.baseline.psql-copy',
        n: rows,
        seconds: psqlSec,
        throughput: psqlRate,
        unit: 'rows/s',
        peakRssMiB: null,
        baseline: null,
        ratio: null,
      });
    if (jqSec !== null && jqRate !== null)
      report({
        case: 'staging.baseline.jq',
        n: rows,
        seconds: jqSec,
        throughput: jqRate,
        unit: 'rows/s',
        peakRssMiB: null,
        baseline: psqlRate === null ? null : 'psql \\copy',
        ratio: psqlRate === null ? null : jqRate / psqlRate,
      });
  }
}

await main();
