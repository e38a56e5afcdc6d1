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
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { readDataset } from '../../src/dataset/index.js';
import { encodeCopyField, type StagingStrategy } from '../../src/staging/index.js';
import { benchDataset } from '../dataset-fixture.js';
import { BENCH_TMP, envInt, median, report, timeShell } from '../lib.js';

const SERVER = process.env.BACKFILL_KIT_PG_URL ?? process.env.PGURI ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RUNS = envInt('BENCH_RUNS', 1);
const MEMBER = 'linksets.ndjson';

function databaseUrl(name: string): string {
  const u = new URL(SERVER);
  u.pathname = `/${name}`;
  return u.toString();
}

interface ChildResult {
  rows: number;
  seconds: number;
  peakRssMiB: number;
  lockHeldMs: number;
  sha256: string;
}

function runChild(url: string, file: string, strategy: StagingStrategy, nodeFlags: string[] = []): ChildResult {
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  // A fresh plain-node process on dist/ (npm run bench builds first), so peak RSS is the importer's own.
  const script = fileURLToPath(new URL('../children/import-dataset.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [...nodeFlags, script, url, file, strategy, sha256, MEMBER], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`importer child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildResult;
}

/** The pre-made text-format file psql loads: written once per size. */
async function copyTextFile(file: string, rows: number): Promise<string> {
  const out = join(BENCH_TMP, `staging-${rows}.copy.txt`);
  if (existsSync(out)) return out;
  const stream = createWriteStream(`${out}.part`);
  for await (const member of readDataset(file)) {
    if (member.name !== MEMBER) continue;
    for await (const batch of member.recordBatches()) {
      let text = '';
      for (const r of batch) text += `${encodeCopyField(String(r.value._id))}\t${encodeCopyField(r.raw)}\n`;
      if (!stream.write(text)) await new Promise<void>((res) => stream.once('drain', () => res()));
    }
  }
  await new Promise<void>((res) => stream.end(() => res()));
  const { renameSync } = await import('node:fs');
  renameSync(`${out}.part`, out);
  return out;
}

const started = Date.now();
/** Step timings on stderr, so a slow default run shows where the time went. */
function step(what: string): void {
  process.stderr.write(`[staging bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${what}\n`);
}

async function main(): Promise<void> {
  const rows = envInt('BENCH_ROWS', 1_000_000);
  const { file } = await benchDataset(rows);
  const quarter = await benchDataset(Math.max(1, Math.floor(rows / 4)));
  step('datasets ready');
  const text = await copyTextFile(file, rows);
  step('copy text file ready');
  const dbName = `bk_bench_staging_${process.pid}`;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  const url = databaseUrl(dbName);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('CREATE SCHEMA bench');
    for (const t of ['importer_t', 'psql_t', 'jq_t']) await db.query(`CREATE TABLE bench.${t} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    const count = async (t: string): Promise<number> => Number((await db.query(`SELECT count(*) AS n FROM bench.${t}`)).rows[0]?.n);

    const psqlTimes: number[] = [];
    const jqTimes: number[] = [];
    const truncate: ChildResult[] = [];
    const swap: ChildResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      await db.query('TRUNCATE bench.psql_t');
      await db.query('CHECKPOINT');
      step('psql');
      psqlTimes.push((await timeShell(`psql -v ON_ERROR_STOP=1 -q '${url}' -c "\\copy bench.psql_t (id, raw) from '${text}'"`)).seconds);
      if ((await count('psql_t')) !== rows) throw new Error('psql \\copy loaded the wrong number of rows');

      await db.query('TRUNCATE bench.jq_t');
      await db.query('CHECKPOINT');
      step('jq');
      jqTimes.push(
        (await timeShell(`zstd -dc '${file}' | tar -xO ${MEMBER} | jq -rc '[._id, tojson] | @tsv' | psql -v ON_ERROR_STOP=1 -q '${url}' -c "\\copy bench.jq_t (id, raw) from stdin"`))
          .seconds,
      );
      if ((await count('jq_t')) !== rows) throw new Error('the jq pipeline loaded the wrong number of rows');

      await db.query('TRUNCATE bench.importer_t');
      await db.query('CHECKPOINT');
      step('importer truncate');
      truncate.push(runChild(url, file, 'truncate'));
      await db.query('CHECKPOINT');
      step('importer swap');
      swap.push(runChild(url, file, 'swap'));
      if ((await count('importer_t')) !== rows) throw new Error('the importer loaded the wrong number of rows');
    }
    step('importer quarter input');
    const small = runChild(url, quarter.file, 'truncate');
    // Most of the RSS above the reader's is V8's young generation growing to
    // its default 16 MiB semi-spaces under JSON.parse's allocation rate; this
    // run shows what the importer itself needs.
    step('importer with --max-semi-space-size=1');
    const smallYoung = runChild(url, file, 'truncate', ['--max-semi-space-size=1']);
    step('done');

    const psqlSec = median(psqlTimes);
    const jqSec = median(jqTimes);
    const psqlRate = rows / psqlSec;
    const jqRate = rows / jqSec;
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
        baseline: 'psql \\copy (pre-made text file)',
        baselineThroughput: psqlRate,
        ratio: rate / psqlRate,
        jqThroughput: jqRate,
        ratioVsJq: rate / jqRate,
      });
    }
    report({ case: 'staging.baseline.psql-copy', n: rows, seconds: psqlSec, throughput: psqlRate, unit: 'rows/s', peakRssMiB: null, baseline: null, ratio: null });
    report({ case: 'staging.baseline.jq', n: rows, seconds: jqSec, throughput: jqRate, unit: 'rows/s', peakRssMiB: null, baseline: 'psql \\copy', ratio: jqRate / psqlRate });
  } finally {
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  }
}

await main();
