/**
 * `long-lines` case: one long line against the same bytes in short lines,
 * through both line readers, in the same run.
 *
 * - A dataset member read with `readDataset`, as users read one: a
 *   `.tar.zst` whose member is one JSON record of BENCH_LONG_LINE_MIB MiB
 *   (default 48; a base64 field, so it compresses like real data), against
 *   one holding the same field cut into 4 KiB records. Read with `lines()`
 *   (each line decoded to a string) and with `records()` (each parsed), in a
 *   fresh process per pass (bench/children/read-dataset.mjs), so peak RSS is
 *   the reader's own.
 * - `LineSplitter` alone, the dataset reader's line splitter: the same size
 *   pushed in 64 KiB chunks from memory, as one line and as 4 KiB lines,
 *   each line decoded to a string as `lines()` does. With no decompression
 *   or hashing around it, this isolates the join.
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
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineSplitter, decodeLine } from '../../src/_internals/ndjson.js';
import { writeDataset } from '../../src/dataset/index.js';
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

/** `length` characters of base64 from a fixed hash chain: incompressible enough to decode like real data. */
function base64Payload(length: number): string {
  const blocks: Buffer[] = [];
  let block = Buffer.from('long-lines');
  for (let total = 0; total * 4 < length * 3 + 64; total += block.length) {
    block = createHash('sha512').update(block).digest();
    blocks.push(block);
  }
  return Buffer.concat(blocks).toString('base64').slice(0, length);
}

const MEMBER = 'records.ndjson';
const READ_CHILD = fileURLToPath(new URL('../children/read-dataset.mjs', import.meta.url));

/** A dataset whose member is one record with a `BYTES`-long field, or the same field cut into ~4 KiB records. */
async function datasetFile(kind: 'long' | 'short'): Promise<string> {
  const dir = join(BENCH_TMP, 'long-lines');
  const path = join(dir, `member-${kind}-${MIB}m.tar.zst`);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    const field = base64Payload(BYTES);
    const lines: string[] = [];
    if (kind === 'long') lines.push(JSON.stringify({ id: 'r0', pad: field }));
    else
      for (let at = 0, i = 0; at < field.length; at += 4000, i += 1)
        lines.push(JSON.stringify({ id: `r${i}`, pad: field.slice(at, at + 4000) }));
    const written = await writeDataset(path, { members: { [MEMBER]: lines } });
    if (written.isErr()) throw written.error;
  }
  return path;
}

/** One read of the member with `lines()` or `records()` in a fresh plain-node process on dist/, so peak RSS is the reader's own. */
function datasetRun(path: string, mode: 'lines' | 'records'): { seconds: number; peakRssMiB: number } {
  const r = spawnSync(process.execPath, [READ_CHILD, mode, path, MEMBER], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`read-dataset child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { seconds: number; peakRssMiB: number };
}

/** Long against short through readDataset, alternating, RUNS times each. */
function compareDataset(mode: 'lines' | 'records', longPath: string, shortPath: string): void {
  const long: { seconds: number; peakRssMiB: number }[] = [];
  const short: { seconds: number; peakRssMiB: number }[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    long.push(datasetRun(longPath, mode));
    short.push(datasetRun(shortPath, mode));
  }
  const seconds = median(long.map((r) => r.seconds));
  const baselineSeconds = median(short.map((r) => r.seconds));
  report({
    case: 'long-lines',
    round: `readDataset ${mode}(), 4 KiB records`,
    n: BYTES,
    seconds,
    throughput: MIB / seconds,
    unit: 'MiB/s (one long line)',
    peakRssMiB: Math.max(...long.map((r) => r.peakRssMiB)),
    baseline: 'the same bytes in short lines',
    baselineSeconds: Math.round(baselineSeconds * 1000) / 1000,
    baselinePeakRssMiB: Math.round(Math.max(...short.map((r) => r.peakRssMiB))),
    ratio: baselineSeconds / seconds,
  });
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
  floor?: () => Promise<number>,
  oneChunk?: () => Promise<number>,
): Promise<void> {
  const l = await runs(long);
  const s = await runs(short);
  const f = floor && (await runs(floor));
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
    ...(f ? { freshCopySeconds: ms(f.seconds) } : {}),
    ...(o ? { oneChunkSeconds: ms(o.seconds), oneChunkCpuSeconds: ms(o.cpuSeconds) } : {}),
  });
}

async function main(): Promise<void> {
  const longDataset = await datasetFile('long');
  const shortDataset = await datasetFile('short');
  for (const mode of ['lines', 'records'] as const) compareDataset(mode, longDataset, shortDataset);
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
