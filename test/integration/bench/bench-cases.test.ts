/**
 * Bench smoke test: every case in bench/cases runs end to end at tiny sizes,
 * the way `npm run bench` runs it (its own process, `--expose-gc --import
 * tsx`), against the test server. Nothing else runs the benchmarks, so
 * without this a case that a library change broke (say, a warm-up the CLI
 * now refuses) stays broken unseen until the next measurement.
 *
 * No timing is asserted: only that each case exits 0, prints well-formed
 * `BenchLine` JSON, that its comparisons ran (or it said why one was
 * skipped), and that its scratch databases are gone afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BenchLine } from '../../../bench/lib.js';
import { packedPackage, repoRoot } from '../package/packed.js';

/** Tiny sizes: each knob a case reads, set so the whole file stays near a minute of wall time on 2 cores. */
const TINY: Record<string, string> = {
  BENCH_RUNS: '1',
  BENCH_ROWS: '200',
  BENCH_VERIFY_FILES: '2',
  BENCH_VERIFY_MB: '2',
  BENCH_PARTITIONS: '3',
  BENCH_LIST_PARTITIONS: '50',
  BENCH_DOCS: '60',
  BENCH_NAIVE_DOCS: '10',
  BENCH_BATCHES: '10,25',
  BENCH_HEAVY_DOCS: '20',
  BENCH_HEAVY_PRODUCTS: '5',
  BENCH_REPEATS: '1',
  BENCH_RANGE: '5',
  BENCH_BATCH: '5',
  BENCH_NORMALIZE_DOCS: '5',
  BENCH_STARTUP_RUNS: '1',
  BENCH_SPEEDUP_RUNS: '1',
  BENCH_SPIN_ITERATIONS: '1000000',
  BENCH_EPISODES: '5',
  BENCH_EPISODE_KB: '4',
  BENCH_LARGE_EPISODES: '2',
  BENCH_LONG_LINE_MIB: '1',
  // Enough calls that a check's total time does not round to 0 ms.
  BENCH_GATE_CALLS: '100000',
  BENCH_GATE_REQUESTS: '50',
};

/** A case taking longer than this is killed (SIGTERM: it removes its scratch data first) and fails. */
const CASE_TIMEOUT_MS = 150_000;

const CASES = readdirSync(join(repoRoot, 'bench', 'cases'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

/** Cases that make a scratch database (CREATE DATABASE on the test server). */
const NEEDS_CREATEDB = new Set(['partitions', 'staging', 'statements', 'statements-workers']);
/** Commands a case cannot run without at all (a comparison's tool missing only skips that comparison). */
const NEEDS_TOOL: Record<string, string> = { 'version-gate': 'git' };

interface CaseRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly lines: BenchLine[];
  /** What the case said it skipped (`[bench] skipped: …` and the partitions case's own words). */
  readonly skipped: string[];
  /** Scratch databases the case said it made. */
  readonly databases: string[];
}

function have(tool: string, path = process.env.PATH): boolean {
  return spawnSync('bash', ['-c', 'command -v -- "$1"', 'bash', tool], { stdio: 'ignore', env: { PATH: path ?? '' } }).status === 0;
}

/** Runs one case as bench/run.ts does, with tiny sizes, against the test server. */
function runCase(name: string, env: Record<string, string> = {}): Promise<CaseRun> {
  // No BENCH_* knob (or BENCH_CLI, another build) leaks in from the caller's environment.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BENCH_') && k !== 'PGURI'));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(repoRoot, 'bench', 'cases', `${name}.ts`)], {
      cwd: repoRoot,
      env: { ...base, ...TINY, BACKFILL_KIT_PG_URL: inject('pgUrl'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const deadline = setTimeout(() => child.kill('SIGTERM'), CASE_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(deadline);
      const lines = stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as BenchLine);
      const skipped = stderr.split('\n').filter((l) => /\[bench\] skipped: |not available .*baselines skipped/.test(l));
      const databases = [...stderr.matchAll(/\[bench\] scratch database (\S+)/g)].map((m) => m[1]!);
      resolve({ code, signal, stdout, stderr, lines, skipped, databases });
    });
  });
}

const finitePositive = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** The fields every line must have, with sane values. */
function expectBenchLine(line: BenchLine): void {
  expect(typeof line.case, JSON.stringify(line)).toBe('string');
  expect(typeof line.unit, JSON.stringify(line)).toBe('string');
  expect(line.unit.length).toBeGreaterThan(0);
  expect(Number.isFinite(line.n) && line.n >= 0, `n of ${JSON.stringify(line)}`).toBe(true);
  expect(finitePositive(line.seconds), `seconds of ${JSON.stringify(line)}`).toBe(true);
  expect(Number.isFinite(line.throughput) && line.throughput >= 0, `throughput of ${JSON.stringify(line)}`).toBe(true);
  expect(line.peakRssMiB === null || finitePositive(line.peakRssMiB), `peakRssMiB of ${JSON.stringify(line)}`).toBe(true);
  expect(line.baseline === null || typeof line.baseline === 'string', `baseline of ${JSON.stringify(line)}`).toBe(true);
  expect(line.ratio === null || finitePositive(line.ratio), `ratio of ${JSON.stringify(line)}`).toBe(true);
  for (const key of ['case', 'n', 'seconds', 'throughput', 'unit', 'peakRssMiB', 'baseline', 'ratio']) expect(line).toHaveProperty(key);
}

/**
 * Lines whose comparison must have run (a positive ratio), unless the case
 * said it skipped the comparison named by `skippable` (then the ratio is null).
 */
function expectCompared(run: CaseRun, lines: BenchLine[], skippable?: string): void {
  expect(lines.length).toBeGreaterThan(0);
  const skipped = skippable !== undefined && run.skipped.some((s) => s.includes(skippable));
  for (const line of lines) {
    if (skipped) expect(line.ratio, JSON.stringify(line)).toBeNull();
    else expect(finitePositive(line.ratio), `ratio of ${JSON.stringify(line)}`).toBe(true);
  }
}

/** Per case: the comparisons that must have run (each case throws, exiting non-zero, when two sides disagree). */
const CHECKS: Record<string, (run: CaseRun) => void> = {
  dataset(run) {
    expect(run.lines.map((l) => l.case)).toContain('dataset.read.records');
    expectCompared(run, run.lines, 'dataset: the zstd');
  },
  verify(run) {
    const lines = run.lines.filter((l) => l.case === 'verify.checksums' || l.case === 'verify.writeChecksums');
    expect(lines).toHaveLength(2);
    expectCompared(run, lines, 'verify: the sha256sum baselines');
    expectCompared(
      run,
      run.lines.filter((l) => l.case === 'verify.dataset'),
    );
  },
  staging(run) {
    const imports = run.lines.filter((l) => l.case.startsWith('staging.import.'));
    expect(imports).toHaveLength(2);
    expectCompared(run, imports, 'staging: the psql');
    const twoMembers = run.lines.filter((l) => l.case.startsWith('staging.swap.two-members.'));
    expect(twoMembers).toHaveLength(2);
    for (const line of twoMembers) expect(finitePositive(line.ratioVsSingleConnection)).toBe(true);
    if (!run.skipped.some((s) => s.includes('staging: the jq')))
      for (const line of imports) expect(finitePositive(line.ratioVsJq)).toBe(true);
  },
  partitions(run) {
    const ensure = run.lines.filter((l) => String(l.op).startsWith(`ensure ${TINY.BENCH_PARTITIONS} monthly`));
    expect(ensure).toHaveLength(2);
    expectCompared(run, ensure, 'pg_partman');
  },
  statements(run) {
    const ours = run.lines.filter((l) => l.case === 'statements');
    // Each batch size against the naive loop, and against psql \copy unless psql is missing.
    expect(ours.length).toBeGreaterThanOrEqual(2);
    expectCompared(run, ours);
    const summaries = new Set(ours.map((l) => l.summary).filter((s) => s !== undefined));
    expect(summaries.size).toBe(1);
    if (!run.skipped.some((s) => s.includes('statements: the psql'))) expect(run.lines.map((l) => l.case)).toContain('statements:copy');
  },
  'statements-workers'(run) {
    const one = run.lines.find((l) => l.case === 'statements-workers:1-process');
    const two = run.lines.find((l) => l.case === 'statements-workers:2-workers');
    expect(one && two).toBeTruthy();
    // Both sides printed the same report hash, in every pass.
    expect(two!.reportSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(two!.reportsCompared).toBe(Number(TINY.BENCH_REPEATS));
    expect(one!.reportSha256).toBe(two!.reportSha256);
    expect(String(one!.summary)).toMatch(new RegExp(`evaluated ${TINY.BENCH_HEAVY_DOCS}\\b`));
    expectCompared(run, [two!]);
  },
  'index-backfill'(run) {
    const rounds = run.lines.filter((l) => l.round !== 'peak-rss-growth-at-10x-episode-size');
    expect(rounds).toHaveLength(3);
    expectCompared(run, rounds, 'index-backfill: the comparison');
    const compared = !run.skipped.some((s) => s.includes('index-backfill: the comparison'));
    for (const line of rounds) expect(line.sameLines).toBe(compared);
  },
  'long-lines'(run) {
    expectCompared(run, run.lines);
  },
  'version-gate'(run) {
    const http = run.lines.filter((l) => l.unit === 'requests/s');
    expect(http).toHaveLength(1);
    expectCompared(run, http);
  },
};

let admin: pg.Client;
let mayCreateDatabases = false;

beforeAll(async () => {
  // Several cases measure the compiled package (dist/): the suite's one
  // `npm pack` per run builds it from a clean dist/, as `npm run bench` does.
  await packedPackage();
  admin = new pg.Client({ connectionString: inject('pgUrl') });
  await admin.connect();
  const { rows } = await admin.query<{ ok: boolean }>(
    'SELECT rolsuper OR rolcreatedb AS ok FROM pg_catalog.pg_roles WHERE rolname = current_user',
  );
  mayCreateDatabases = rows[0]?.ok === true;
}, 600_000);

afterAll(async () => {
  await admin?.end();
});

async function leftDatabases(names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY($1)', [names]);
  return rows.map((r) => r.datname);
}

describe('bench cases at tiny sizes', () => {
  it('finds the cases', () => {
    expect(CASES).toContain('statements-workers');
    for (const name of CASES) expect(CHECKS, `bench/cases/${name}.ts has no checks in this file`).toHaveProperty(name);
  });

  it.for(CASES)('%s runs end to end and prints well-formed lines', { timeout: CASE_TIMEOUT_MS + 30_000 }, async (name, ctx) => {
    if (NEEDS_CREATEDB.has(name) && !mayCreateDatabases) return ctx.skip('skipped: the test server role may not CREATE DATABASE');
    const tool = NEEDS_TOOL[name];
    if (tool !== undefined && !have(tool)) return ctx.skip(`skipped: ${tool} not found on PATH`);
    const run = await runCase(name);
    expect({ code: run.code, signal: run.signal }, `${name} failed:\n${run.stderr.slice(-4000)}`).toEqual({ code: 0, signal: null });
    expect(await leftDatabases(run.databases), 'scratch databases left behind').toEqual([]);
    if (NEEDS_CREATEDB.has(name)) expect(run.databases.length).toBeGreaterThan(0);
    expect(run.lines.length, `${name} printed no measurement`).toBeGreaterThan(0);
    for (const line of run.lines) expectBenchLine(line);
    CHECKS[name]?.(run);
  });

  it('an interrupted case drops its scratch database before it exits', async (ctx) => {
    if (!mayCreateDatabases) return ctx.skip('skipped: the test server role may not CREATE DATABASE');
    // SIGTERM as soon as the database exists: the case is seeding it then (a 400-document corpus takes seconds).
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'cases', 'statements-workers.ts')], {
      cwd: repoRoot,
      env: { ...process.env, ...TINY, BENCH_HEAVY_DOCS: '400', BACKFILL_KIT_PG_URL: inject('pgUrl') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const named = new Promise<string>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /\[bench\] scratch database (\S+)\n/.exec(stderr);
        if (m) resolve(m[1]!);
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const name = await Promise.race([named, exited.then(() => '')]);
    expect(name, `no scratch database named:\n${stderr}`).not.toBe('');
    expect(await leftDatabases([name])).toEqual([name]);
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(143);
    expect(await leftDatabases([name]), 'scratch database left behind').toEqual([]);
  }, 60_000);

  it('a case whose comparison tool is missing says so and still measures (verify without sha256sum)', async () => {
    // PATH without sha256sum: a folder of links to every other command.
    const dir = mkdtempSync(join(tmpdir(), 'bk-bench-path-'));
    try {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      for (const from of (process.env.PATH ?? '').split(':').filter(Boolean)) {
        let names: string[] = [];
        try {
          names = readdirSync(from);
        } catch {
          continue;
        }
        for (const name of names) {
          if (name === 'sha256sum') continue;
          try {
            symlinkSync(join(from, name), join(bin, name));
          } catch {
            // An earlier PATH entry already gave this name.
          }
        }
      }
      expect(have('sha256sum', bin)).toBe(false);
      const run = await runCase('verify', { PATH: bin });
      expect({ code: run.code, signal: run.signal }, run.stderr.slice(-4000)).toEqual({ code: 0, signal: null });
      expect(run.skipped.join('\n')).toContain('verify: the sha256sum baselines');
      for (const line of run.lines) expectBenchLine(line);
      CHECKS.verify!(run);
      expect(run.lines.filter((l) => l.case === 'verify.checksums')[0]?.ratio).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
