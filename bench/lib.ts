/**
 * Shared benchmark plumbing. Every case prints one JSON line per measurement:
 * `{ case, n, seconds, throughput, unit, peakRssMiB, baseline, ratio }`.
 * Baselines run in the same process run, because absolute times drift on
 * shared machines.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Scratch space for generated inputs (git-ignored). */
export const BENCH_TMP = join(process.cwd(), '.bench-tmp');
mkdirSync(BENCH_TMP, { recursive: true });

/** The PostgreSQL server the cases make their scratch databases on. */
export const BENCH_SERVER = process.env.BACKFILL_KIT_PG_URL ?? process.env.PGURI ?? 'postgres://postgres@127.0.0.1:5432/postgres';

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

/** Whether a command is on PATH. */
export function haveTool(tool: string): boolean {
  return spawnSync('bash', ['-c', 'command -v -- "$1"', 'bash', tool], { stdio: 'ignore' }).status === 0;
}

/**
 * True when every tool a comparison needs is on PATH; otherwise says on
 * stderr which are missing and that `what` is skipped, and returns false.
 */
export function toolsFor(what: string, tools: readonly string[]): boolean {
  const missing = tools.filter((t) => !haveTool(t));
  if (missing.length > 0) process.stderr.write(`[bench] skipped: ${what} (${missing.join(', ')} not found on PATH)\n`);
  return missing.length === 0;
}

/** Cleanups still to run, also when the process is interrupted. */
const pending = new Set<() => Promise<void>>();
let interrupted = false;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  process.stderr.write(`[bench] ${signal}: removing scratch data before exiting\n`);
  // Connections the drop ends report it as errors; the process is ending anyway.
  process.on('uncaughtException', () => undefined);
  void Promise.allSettled([...pending].map((cleanup) => cleanup())).finally(() => process.exit(128 + (constants.signals[signal] ?? 0)));
}

/**
 * Has `cleanup` run if the process gets SIGINT, SIGTERM or SIGHUP (then it
 * exits after every such cleanup); call the function returned once the
 * thing is cleaned up the ordinary way.
 */
export function whenInterrupted(cleanup: () => Promise<void> | void): () => void {
  const entry = async (): Promise<void> => cleanup();
  pending.add(entry);
  if (pending.size === 1) for (const s of SIGNALS) process.on(s, onSignal);
  return () => {
    pending.delete(entry);
    if (pending.size === 0 && !interrupted) for (const s of SIGNALS) process.off(s, onSignal);
  };
}

/** Runs `fn`, then `cleanup`, whether `fn` succeeds, throws, or the process is interrupted meanwhile. */
export async function withCleanup<T>(cleanup: () => Promise<void> | void, fn: () => Promise<T>): Promise<T> {
  const forget = whenInterrupted(cleanup);
  try {
    return await fn();
  } finally {
    forget();
    await cleanup();
  }
}

/**
 * A scratch database `bk_bench_<prefix>_<random>` on {@link BENCH_SERVER}
 * for `fn` (given its URL), dropped afterwards even when `fn` fails or the
 * process is interrupted. Its name goes to stderr, so whoever started the
 * case can check that it is gone.
 */
export async function withScratchDatabase<T>(prefix: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = `bk_bench_${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: BENCH_SERVER });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
    const url = new URL(BENCH_SERVER);
    url.pathname = `/${name}`;
    // WITH (FORCE) also ends what the case left connected.
    return await withCleanup(
      async () => void (await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
      () => {
        // Named only once the signal handlers that drop it are installed: whoever
        // interrupts the case on seeing the name must not find the default action.
        process.stderr.write(`[bench] scratch database ${name}\n`);
        return fn(url.toString());
      },
    );
  } finally {
    await admin.end();
  }
}
