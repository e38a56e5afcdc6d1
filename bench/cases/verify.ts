/**
 * `verify` case.
 * 1. verifyChecksums over BENCH_VERIFY_FILES files totalling BENCH_VERIFY_MB
 *    (default 8 × 256 MB = 2 GB, generated once into BENCH_TMP) against
 *    `sha256sum --check --quiet` on the same SHA256SUMS, page cache warm for
 *    both; writeChecksums against `sha256sum files > SHA256SUMS`.
 * 2. verifyDataset against plain readDataset iteration of the same file
 *    (every line of every member, and drain-only), BENCH_ROWS rows (default
 *    1,000,000, the `dataset` case's file).
 * Median of BENCH_RUNS (default 3) runs, ours and baseline alternating.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, statSync, writeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDataset } from '../../src/dataset/index.js';
import { verifyChecksums, verifyDataset, writeChecksums } from '../../src/verify/index.js';
import { benchDataset } from '../dataset-fixture.js';
import { BENCH_TMP, envInt, measure, median, report, timeShell, toolsFor } from '../lib.js';

const RUNS = envInt('BENCH_RUNS', 3);
const MIB = 1024 * 1024;

/** Files of pseudo-random bytes, written once and reused. */
function benchFiles(count: number, totalMb: number): { dir: string; names: string[]; bytes: number } {
  const perFile = Math.max(1, Math.floor(totalMb / count)) * MIB;
  const dir = join(BENCH_TMP, `verify-${count}x${perFile / MIB}M`);
  mkdirSync(dir, { recursive: true });
  const names = Array.from({ length: count }, (_, i) => `artefact ${String(i).padStart(2, '0')}.bin`);
  const block = randomFillSync(Buffer.alloc(8 * MIB));
  for (const [i, name] of names.entries()) {
    const path = join(dir, name);
    if (existsSync(path) && statSync(path).size === perFile) continue;
    const fd = openSync(path, 'w');
    try {
      for (let off = 0, n = 0; off < perFile; off += block.length, n++) {
        block.writeUInt32LE(i, 0);
        block.writeUInt32LE(n, 4); // every block differs
        writeSync(fd, block, 0, Math.min(block.length, perFile - off));
      }
    } finally {
      closeSync(fd);
    }
  }
  return { dir, names, bytes: perFile * count };
}

async function checksums(): Promise<void> {
  const count = envInt('BENCH_VERIFY_FILES', 8);
  const { dir, names, bytes } = benchFiles(count, envInt('BENCH_VERIFY_MB', 2048));
  const sums = join(dir, 'SHA256SUMS');
  const quoted = names.map((n) => `'${n}'`).join(' ');
  await timeShell(`cd '${dir}' && cat ${quoted} > /dev/null`); // warm the page cache
  const mb = bytes / 1e6;
  const withSha256sum = toolsFor('verify: the sha256sum baselines (ratios are null)', ['sha256sum']);

  const writeOurs: number[] = [];
  const writeBase: number[] = [];
  const verifyOurs: number[] = [];
  const verifyBase: number[] = [];
  let peak = 0;
  for (let i = 0; i < RUNS; i++) {
    const w = await measure(async () => (await writeChecksums(names, sums))._unsafeUnwrap());
    writeOurs.push(w.seconds);
    const ours = readFileSync(sums);
    if (withSha256sum) {
      const wb = await timeShell(`cd '${dir}' && sha256sum -- ${quoted} > SHA256SUMS.gnu`);
      writeBase.push(wb.seconds);
      if (!readFileSync(join(dir, 'SHA256SUMS.gnu')).equals(ours)) throw new Error('writeChecksums output differs from sha256sum');
    }

    const v = await measure(async () => (await verifyChecksums(sums))._unsafeUnwrap());
    if (!v.value.ok) throw new Error('verifyChecksums failed on the bench files');
    verifyOurs.push(v.seconds);
    peak = Math.max(peak, v.peakRssMiB, w.peakRssMiB);
    if (withSha256sum) verifyBase.push((await timeShell(`cd '${dir}' && sha256sum --check --quiet SHA256SUMS`)).seconds);
  }
  for (const [name, ours, base, baseline] of [
    ['verify.checksums', verifyOurs, verifyBase, 'sha256sum --check'],
    ['verify.writeChecksums', writeOurs, writeBase, 'sha256sum files > SHA256SUMS'],
  ] as const) {
    const seconds = median(ours);
    const baseSeconds = withSha256sum ? median(base) : null;
    report({
      case: name,
      n: count,
      seconds,
      throughput: mb / seconds,
      unit: 'MB/s',
      peakRssMiB: peak,
      baseline: baseSeconds === null ? null : baseline,
      baselineMbPerSec: baseSeconds === null ? null : mb / baseSeconds,
      ratio: baseSeconds === null ? null : baseSeconds / seconds,
      goal: name === 'verify.checksums' ? 'ratio >= 1.5' : null,
    });
  }
}

async function dataset(): Promise<void> {
  const rows = envInt('BENCH_ROWS', 1_000_000);
  const { file, fileBytes } = await benchDataset(rows);
  const expectedSha256 = toolsFor('verify: sha256sum as the dataset hash oracle (node:crypto used)', ['sha256sum'])
    ? (await timeShell(`sha256sum '${file}'`)).stdout.slice(0, 64)
    : createHash('sha256').update(readFileSync(file)).digest('hex');
  const readLines = async (): Promise<number> => {
    let n = 0;
    const ds = readDataset(file);
    for await (const member of ds) for await (const batch of member.lineBatches()) n += batch.length;
    (await ds.stats())._unsafeUnwrap();
    return n;
  };
  const drain = async (): Promise<number> => {
    const { stats } = (await readDataset(file).scan())._unsafeUnwrap();
    return stats.members.length;
  };
  const verify = async (): Promise<boolean> => {
    const report = (await verifyDataset(file, { expectedSha256 }))._unsafeUnwrap();
    if (!report.ok) throw new Error('verifyDataset failed on the bench dataset');
    return report.ok;
  };
  const times = { verify: [] as number[], lines: [] as number[], drain: [] as number[] };
  let peak = 0;
  for (let i = 0; i < RUNS; i++) {
    const l = await measure(readLines);
    times.lines.push(l.seconds);
    const d = await measure(drain);
    times.drain.push(d.seconds);
    const v = await measure(verify);
    times.verify.push(v.seconds);
    peak = Math.max(peak, v.peakRssMiB);
  }
  const seconds = median(times.verify);
  const mb = fileBytes / 1e6;
  for (const [baseline, base] of [
    ['readDataset: every line of every member (lineBatches)', times.lines],
    ['readDataset: drain members (scan)', times.drain],
  ] as const) {
    const baseSeconds = median(base);
    report({
      case: 'verify.dataset',
      n: rows,
      seconds,
      throughput: rows / seconds,
      unit: 'records/s',
      storedMbPerSec: mb / seconds,
      peakRssMiB: peak,
      baseline,
      baselineSeconds: baseSeconds,
      ratio: baseSeconds / seconds,
      costVsBaseline: seconds / baseSeconds,
      goal: 'costVsBaseline <= 1.3',
    });
  }
}

await checksums();
await dataset();
