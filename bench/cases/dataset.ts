/**
 * `dataset` case: readDataset throughput (raw lines, then parsed records)
 * against `zstd -dc | tar -xO | wc -l` and `… | node parse-ndjson.mjs` in
 * the same run, plus peak RSS, and RSS at a quarter and at four times the
 * input to show it stays flat. BENCH_ROWS scales it (default 1,000,000 rows ≈ 256 MB NDJSON);
 * BENCH_RUNS sets the runs per path (median; default 5).
 * `scan` hashes and counts every member without handing out lines (the
 * verification path); `byteLineBatches` hands out every line undecoded
 * (`lineBatches({ encoding: 'buffer' })`), the raw-line figure; the others
 * also decode every line to a string. The raw lines are also timed against a
 * pipeline that does the reader's integrity work too (the stored file's and
 * the member's SHA-256), row `dataset.read.byteLineBatches.hashing`; and read
 * with `memberDigests: false` (only the stored file's SHA-256, which still
 * covers every byte) against the plain pipeline, row
 * `dataset.read.byteLineBatches.fileDigestOnly`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReadDatasetOptions } from '../../src/dataset/index.js';
import { benchDataset } from '../dataset-fixture.js';
import { BENCH_TMP, envInt, median, report, timeShell, toolsFor } from '../lib.js';

type Mode = 'scan' | 'byteLineBatches' | 'lineBatches' | 'lines' | 'recordBatches' | 'records';
// Five: the pipeline alone swings between 0.25 and 0.40 s on a 2-core
// machine, and a median of three still moved the ratio by ±0.05.
const RUNS = envInt('BENCH_RUNS', 5);
const CHILD = fileURLToPath(new URL('../children/read-dataset.mjs', import.meta.url));

/** One measured pass in a fresh plain-node process on dist/, so peak RSS is its own. */
function runChild(
  mode: Mode,
  file: string,
  member: string,
  options: ReadDatasetOptions = {},
): { n: number; seconds: number; peakRssMiB: number } {
  const r = spawnSync(process.execPath, [CHILD, mode, file, member, JSON.stringify(options)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function main(): Promise<void> {
  const rows = envInt('BENCH_ROWS', 1_000_000);
  const { file, member, memberBytes } = await benchDataset(rows);
  const small = await benchDataset(Math.max(1, Math.floor(rows / 4)));
  const large = await benchDataset(rows * 4);
  const mb = memberBytes / 1e6;
  const parseScript = fileURLToPath(new URL('../baselines/parse-ndjson.mjs', import.meta.url));
  const withBaselines = toolsFor('dataset: the zstd | tar pipelines (ratios are null)', ['zstd', 'tar', 'wc', 'tee', 'sha256sum']);

  const raw = { baselineName: 'zstd -dc | tar -xO | wc -l', baseline: `zstd -dc '${file}' | tar -xO ${member} | wc -l` };
  // The same integrity work as the reader: the stored file's SHA-256 and the member's, beside the line count.
  const hashedCount = join(BENCH_TMP, 'dataset-hashed-count');
  const rawHashed = {
    label: 'hashing',
    baselineName: 'sha256sum file & zstd -dc | tar -xO | tee >(wc -l) | sha256sum',
    baseline:
      `sha256sum '${file}' >/dev/null & file_hash=$!; ` +
      `zstd -dc '${file}' | tar -xO ${member} | tee >(wc -l > '${hashedCount}') | sha256sum >/dev/null; ` +
      `wait $! $file_hash; cat '${hashedCount}'`,
  };
  const parsed = {
    baselineName: 'zstd -dc | tar -xO | node parse-ndjson.mjs',
    // This process's node (under `npm run bench`, the `node` first on PATH).
    baseline: `zstd -dc '${file}' | tar -xO ${member} | '${process.execPath}' '${parseScript}'`,
  };
  // The batch forms are the bulk-loading fast path; the per-item forms pay one await per line.
  const cases: { mode: Mode; label?: string; options?: ReadDatasetOptions; baselineName: string; baseline: string }[] = [
    { mode: 'scan', ...raw },
    { mode: 'byteLineBatches', ...raw },
    { mode: 'byteLineBatches', ...rawHashed },
    { mode: 'byteLineBatches', label: 'fileDigestOnly', options: { memberDigests: false }, ...raw },
    { mode: 'lineBatches', ...raw },
    { mode: 'lines', ...raw },
    { mode: 'recordBatches', ...parsed },
    { mode: 'records', ...parsed },
  ];
  for (const c of cases) {
    const baseTimes: number[] = [];
    const ours: { n: number; seconds: number; peakRssMiB: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (withBaselines) {
        const b = await timeShell(c.baseline);
        if (Number(b.stdout.trim()) !== rows) throw new Error(`baseline counted ${b.stdout.trim()} rows, expected ${rows}`);
        baseTimes.push(b.seconds);
      }
      const o = runChild(c.mode, file, member, c.options);
      if (o.n !== rows) throw new Error(`readDataset counted ${o.n} rows, expected ${rows}`);
      ours.push(o);
    }
    const seconds = median(ours.map((o) => o.seconds));
    const baseSeconds = withBaselines ? median(baseTimes) : null;
    const quarter = runChild(c.mode, small.file, small.member, c.options);
    const fourTimes = runChild(c.mode, large.file, large.member, c.options);
    report({
      case: `dataset.read.${c.mode}${c.label ? `.${c.label}` : ''}`,
      n: rows,
      seconds,
      throughput: rows / seconds,
      unit: 'records/s',
      mbPerSec: mb / seconds,
      peakRssMiB: Math.max(...ours.map((o) => o.peakRssMiB)),
      peakRssMiBQuarterInput: quarter.peakRssMiB,
      peakRssMiBFourTimesInput: fourTimes.peakRssMiB,
      baseline: baseSeconds === null ? null : c.baselineName,
      baselineMbPerSec: baseSeconds === null ? null : mb / baseSeconds,
      ratio: baseSeconds === null ? null : baseSeconds / seconds,
    });
  }
}

await main();
