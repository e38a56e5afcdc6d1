/**
 * `long-lines` case: one long line against the same bytes in short lines,
 * through both line readers, in the same run.
 *
 * - `LineSplitter` (dataset members): BENCH_LONG_LINE_MIB MiB (default 48)
 *   pushed in 64 KiB chunks, as one line and as 4 KiB lines, each line
 *   decoded to a string as `lines()` does.
 * - The index backfill's `index.jsonl` reader: a file of the same size
 *   holding one row with a long field, and one holding ~300-byte rows;
 *   both are read and every row parsed.
 *
 * `ratio` is the short-line time divided by the long-line time (goal:
 * >= 0.5, i.e. one long line costs at most twice the same bytes in short
 * lines). Each figure is the median of BENCH_RUNS runs (default 5); peak RSS
 * is the highest seen in the long-line runs; `cpuRatio` is the same ratio in
 * CPU time (process.cpuUsage), steadier than wall time on a loaded machine.
 * `freshCopySeconds` is the floor for any reader that hands a line out in
 * one piece: copying the line's bytes once into newly allocated memory (on a
 * loaded virtual machine, touching fresh pages costs far more than the copy
 * itself). For `LineSplitter`, `oneChunkSeconds` is the same long line
 * pushed as one chunk, so nothing is joined: what handing out a 48 MiB
 * string costs at all (it is decoded into fresh memory, while short lines
 * reuse warm memory). Generated files live in .bench-tmp and are reused.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineSplitter, decodeLine } from '../../src/_internals/ndjson.js';
import { readIndexedEpisodeIds } from '../../src/index-backfill/existing-index.js';
import { BENCH_TMP, envInt, measure, median, report } from '../lib.js';

const MIB = envInt('BENCH_LONG_LINE_MIB', 48);
const RUNS = envInt('BENCH_RUNS', 5);
const BYTES = MIB * 1024 * 1024;
const CHUNK = 64 * 1024;

/** `BYTES` of text: one line, or lines of `lineBytes` (newline included). */
function text(lineBytes: number | undefined): Buffer {
  const out = Buffer.alloc(BYTES, 0x61);
  if (lineBytes !== undefined) for (let i = lineBytes - 1; i < BYTES; i += lineBytes) out[i] = 0x0a;
  return out;
}

async function splitterRun(bytes: Buffer, chunkBytes = CHUNK): Promise<number> {
  const splitter = new LineSplitter('bench.ndjson', BYTES);
  let seen = 0;
  const sink = (b: Buffer, s: number, e: number, line: number): void => {
    seen += decodeLine(b, s, e, 'bench.ndjson', line).length;
  };
  for (let at = 0; at < bytes.length; at += chunkBytes) splitter.push(bytes.subarray(at, at + chunkBytes), sink);
  splitter.end(sink);
  return seen;
}

/** An index of `BYTES`: one row with a long `pad`, or ~300-byte rows. */
function indexFile(kind: 'long' | 'short'): string {
  const dir = join(BENCH_TMP, 'long-lines');
  const path = join(dir, `index-${kind}-${MIB}m.jsonl`);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    const row = (id: number, padBytes: number): string =>
      `{"episode_id": "ep-${String(id).padStart(8, '0')}", "host_id": "lab-01", "sha256": "${'0'.repeat(64)}", "size_bytes": 1, "pad": "${'p'.repeat(padBytes)}"}\n`;
    const base = row(0, 0).length;
    if (kind === 'long') writeFileSync(path, row(0, BYTES - base));
    else {
      const lines: string[] = [];
      for (let id = 0, total = 0; total < BYTES; id += 1) {
        const line = row(id, 300 - base);
        lines.push(line);
        total += line.length;
      }
      writeFileSync(path, lines.join(''));
    }
  }
  return path;
}

async function indexRun(path: string): Promise<number> {
  const r = await readIndexedEpisodeIds(path, { maxLineBytes: 2 * BYTES, warn: () => {} });
  if (r.isErr()) throw r.error;
  return r.value.size;
}

/** Median seconds (wall and CPU) and peak RSS over RUNS runs of `fn`. */
async function runs(fn: () => Promise<number>): Promise<{ seconds: number; cpuSeconds: number; peakRssMiB: number }> {
  const seconds: number[] = [];
  const cpuSeconds: number[] = [];
  let peak = 0;
  for (let i = 0; i < RUNS; i += 1) {
    const before = process.cpuUsage();
    const m = await measure(fn);
    const cpu = process.cpuUsage(before);
    seconds.push(m.seconds);
    cpuSeconds.push((cpu.user + cpu.system) / 1e6);
    peak = Math.max(peak, m.peakRssMiB);
  }
  return { seconds: median(seconds), cpuSeconds: median(cpuSeconds), peakRssMiB: peak };
}

/** One copy of the whole input into fresh memory, as joining a long line's pieces does. */
async function freshCopy(bytes: Buffer): Promise<number> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK) pieces.push(bytes.subarray(at, at + CHUNK));
  return Buffer.concat(pieces, bytes.length).length;
}

async function compare(
  reader: string,
  long: () => Promise<number>,
  short: () => Promise<number>,
  floor: () => Promise<number>,
  oneChunk?: () => Promise<number>,
): Promise<void> {
  const l = await runs(long);
  const s = await runs(short);
  const f = await runs(floor);
  const o = oneChunk && (await runs(oneChunk));
  const ms = (x: number): number => Math.round(x * 1000) / 1000;
  report({
    case: 'long-lines',
    round: reader,
    n: BYTES,
    seconds: l.seconds,
    throughput: MIB / l.seconds,
    unit: 'MiB/s (one long line)',
    peakRssMiB: l.peakRssMiB,
    baseline: 'the same bytes in short lines',
    baselineSeconds: Math.round(s.seconds * 1000) / 1000,
    baselinePeakRssMiB: Math.round(s.peakRssMiB),
    ratio: s.seconds / l.seconds,
    cpuSeconds: ms(l.cpuSeconds),
    baselineCpuSeconds: ms(s.cpuSeconds),
    cpuRatio: ms(s.cpuSeconds / l.cpuSeconds),
    freshCopySeconds: ms(f.seconds),
    ...(o ? { oneChunkSeconds: ms(o.seconds), oneChunkCpuSeconds: ms(o.cpuSeconds) } : {}),
  });
}

async function main(): Promise<void> {
  const oneLine = text(undefined);
  const shortLines = text(4096);
  await compare(
    'LineSplitter, 4 KiB lines',
    () => splitterRun(oneLine),
    () => splitterRun(shortLines),
    () => freshCopy(oneLine),
    () => splitterRun(oneLine, BYTES),
  );
  const longIndex = indexFile('long');
  const shortIndex = indexFile('short');
  await compare(
    'index.jsonl reader, 300-byte rows',
    () => indexRun(longIndex),
    () => indexRun(shortIndex),
    () => freshCopy(oneLine),
  );
}

await main();
