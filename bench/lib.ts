/**
 * Shared benchmark plumbing. Every case prints one JSON line per measurement:
 * `{ case, n, seconds, throughput, unit, peakRssMiB, baseline, ratio }`.
 * Baselines run in the same process run, because absolute times drift on
 * shared machines.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Scratch space for generated inputs (git-ignored). */
export const BENCH_TMP = join(process.cwd(), '.bench-tmp');
mkdirSync(BENCH_TMP, { recursive: true });

/** Reads a positive integer from the environment, with a default. */
export function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : fallback;
}

/** One measurement line. */
export interface BenchLine {
  case: string;
  n: number;
  seconds: number;
  throughput: number;
  unit: string;
  peakRssMiB: number | null;
  baseline: string | null;
  ratio: number | null;
  [extra: string]: unknown;
}

/** Prints one measurement as a JSON line. */
export function report(line: BenchLine): void {
  const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
  process.stdout.write(
    `${JSON.stringify({ ...line, seconds: round(line.seconds), throughput: round(line.throughput), peakRssMiB: round(line.peakRssMiB), ratio: round(line.ratio) })}\n`,
  );
}

/**
 * Times `fn` in this process while sampling `process.memoryUsage.rss()`
 * every 10 ms, so the peak is this work's, not a parent's high-water mark
 * (the full `memoryUsage()` walks the heap and slowed the work it measured).
 */
export async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakRssMiB: number }> {
  global.gc?.();
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const start = process.hrtime.bigint();
  try {
    const value = await fn();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, seconds, peakRssMiB: peak / 1048576 };
  } finally {
    clearInterval(timer);
  }
}

/** Runs a shell pipeline (the baseline) and returns its wall time and stdout. */
export async function timeShell(script: string, env: NodeJS.ProcessEnv = {}): Promise<{ seconds: number; stdout: string }> {
  const start = process.hrtime.bigint();
  const child = spawn('bash', ['-o', 'pipefail', '-c', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`baseline failed (${code}): ${script}`);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, stdout };
}

/**
 * CPU seconds (user + system) in one `/proc/<pid>/stat` line: fields 14 and
 * 15, counted after the command name, which may hold spaces and ends at the
 * last `)`. Linux counts them in clock ticks of 1/100 s.
 */
export function cpuSecondsOfProcStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Median of a list of numbers. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
