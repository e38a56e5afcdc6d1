/**
 * `statements-workers` case: the statement backfill on one process against
 * `statements backfill --workers 2` (plan, work as one worker on the
 * pg-boss job engine whose worker thread parses and normalizes documents
 * beside the main thread, report), both through the built CLI,
 * over a normalization-heavy corpus: BENCH_HEAVY_DOCS (default 8,000) large
 * CSAF VEX documents, each with a product tree of BENCH_HEAVY_PRODUCTS
 * (default 400) products and 3 vulnerabilities giving a status to 5
 * products each (large trees, few statuses, as in vendors' CSAF VEX
 * files), so normalizing outweighs writing. Ranges of BENCH_RANGE (default
 * 500) documents give each worker several jobs.
 *
 * pg-boss's schema is installed before the timed passes. Each pass writes
 * into fresh tables; BENCH_REPEATS (default 3) passes alternate which side
 * goes first, and the median ratio is reported. Both sides must print the
 * same report hash (`reportSha256`, and `reportsCompared`, the passes
 * whose hashes were compared). Reported beside the times:
 * - start-up: each side over a one-document run (median of
 *   BENCH_STARTUP_RUNS, default 3), the fixed cost a larger corpus amortizes;
 * - CPU split (Linux): seconds of CPU in Node (the CLI and its worker
 *   processes) and in the PostgreSQL backends serving the bench database
 *   (medians), and `cpuRatio`, one process's CPU over the two-worker run's:
 *   unlike wall time it barely moves with the machine's load, and with
 *   `cores` it bounds the ratio (the two-worker run cannot end before its
 *   CPU spread over the cores);
 * - per pass, the CPU the rest of the machine used meanwhile
 *   (`othersCpuSeconds`, from `/proc/stat`): what the second worker could
 *   not have;
 * - `coreSpeedup`: a fixed CPU-bound loop run twice at once against once
 *   alone (work per second, median of 3): what a second core adds on this
 *   machine with nothing else in the way (BENCH_SPIN_ITERATIONS, default
 *   150,000,000; each speed-up a median of BENCH_SPEEDUP_RUNS, default 3),
 *   the ceiling for `--workers 2`
 *   (virtual cores that share a physical one add far less than 2×);
 * - `normalizeSpeedup`: the same for the backfill's own CPU-bound work,
 *   parsing and normalizing BENCH_NORMALIZE_DOCS (default 1,500) of the
 *   corpus's documents in a child process, twice at once against once
 *   alone (median of 3): this, not `coreSpeedup`, is the most a second
 *   thread can add to normalizing. Beside it, `normalizeCores`: the cores
 *   one such child keeps busy alone (its CPU on all threads over its wall
 *   time, median of 3). V8's garbage-collector and compiler threads work
 *   beside the normalizing thread, so one normalizer alone already takes
 *   part of the second core, and two at once gain about 2 / normalizeCores;
 * - the Node CPU split by thread (Linux; `threadCpuSeconds`): the CLI's
 *   main thread (which plans, reads, normalizes, commits and reports), its
 *   worker thread (the normalizer thread of `--workers 2`), V8's own
 *   threads (garbage collection and the optimizing compiler, shared by
 *   both) and the rest.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PgRawDocumentSource } from '../../src/statements/pg-raw-document-source.js';
import { generateVexDocuments } from '../../src/testing/vex-documents.js';
import { envInt, median, report, whenInterrupted, withScratchDatabase } from '../lib.js';

/**
 * The built CLI (`npm run bench` builds first): process start-up is what a
 * user's is, not a TypeScript loader's. BENCH_CLI names another build's
 * `cli/main.js`, to compare two builds in alternating runs.
 */
const MAIN = process.env.BENCH_CLI ?? fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** Linux reports process CPU in clock ticks of 1/100 s (USER_HZ). */
const TICKS_PER_SECOND = 100;

const round = (x: number | null, digits = 2): number | null => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);
const sum = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a + b);

/** Table flags putting a run's store (and plan) in a schema of its own. */
function tables(schema: string): string[] {
  return ['statements', 'documents', 'checkpoints', 'failures', 'runs', 'ranges', 'workers'].flatMap((t) => [
    `--${t}-table`,
    `${schema}.${t}`,
  ]);
}

/** The job engine's schema, for the commands that use it. */
const JOBS = ['--jobs-schema', 'bench_jobs'];

/** Seconds of CPU in `/proc/<pid>/stat`: own (utime + stime) and of waited-for children (cutime + cstime); null off Linux. */
function procCpu(pid: number | 'self'): { own: number; children: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // After the command name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    return { own: ((f[11] ?? 0) + (f[12] ?? 0)) / TICKS_PER_SECOND, children: ((f[13] ?? 0) + (f[14] ?? 0)) / TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/**
 * The CPU of the PostgreSQL backends that served a pass, read without
 * polling the server during the timed run (a query every 50 ms took about
 * 4 % of a core, which the two-worker run, keeping both cores busy, paid
 * for and one process, leaving one idle, did not): the postmaster's CPU of
 * its reaped children (`cutime` + `cstime`) before the pass and after the
 * pass's backends have ended and been reaped. It counts every backend of
 * the server that ended meanwhile, an autovacuum worker included; the
 * bench database is the only one in use. Null where /proc is unreadable.
 */
async function backendCpu(url: string): Promise<{ stop(): Promise<number | null> }> {
  const monitor = new pg.Client({ connectionString: url });
  await monitor.connect();
  const others = async (): Promise<number> =>
    (
      await monitor.query<{ n: string }>(
        'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      )
    ).rows[0]?.n === '0'
      ? 0
      : 1;
  /** Waits (outside the timed run) until no backend but the monitor is connected to the bench database, then a little more for the postmaster to reap them. */
  const settled = async (): Promise<void> => {
    for (let waited = 0; waited < 10_000 && (await others()) > 0; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 100));
  };
  const backend = (await monitor.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? 0;
  const postmaster = parentPid(backend);
  const reaped = (): number | null => (postmaster === null ? null : (procCpu(postmaster)?.children ?? null));
  await settled();
  const before = reaped();
  return {
    async stop() {
      await settled();
      const after = reaped();
      await monitor.end();
      return before === null || after === null ? null : after - before;
    },
  };
}

/** The parent process of `pid` (field 4 of `/proc/<pid>/stat`); null off Linux. */
function parentPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 1 ? ppid : null;
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine so far, from `/proc/stat` (every state but idle and iowait); null off Linux. */
function machineBusy(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** CPU seconds of each thread of process `pid` so far, by thread id, with the thread's name; empty off Linux. */
function threadCpu(pid: number): Map<string, { name: string; cpu: number }> {
  const out = new Map<string, { name: string; cpu: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat
        .slice(stat.lastIndexOf(')') + 2)
        .split(' ')
        .map(Number);
      out.set(tid, { name, cpu: ((f[11] ?? 0) + (f[12] ?? 0)) / TICKS_PER_SECOND });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** Thread names as reported: Node's main thread, a worker thread, V8's platform threads; everything else is "other". */
function threadGroup(name: string): 'main' | 'worker' | 'v8' | 'other' {
  return name === 'MainThread' ? 'main' : name === 'WorkerThread' ? 'worker' : name === 'V8Worker' ? 'v8' : 'other';
}

interface Timed {
  readonly seconds: number;
  /** CPU seconds of the CLI process and its children; null off Linux. */
  readonly nodeCpu: number | null;
  /** The CLI process's CPU by thread (sampled every 100 ms: a thread's last 100 ms before it ends are missed); empty off Linux. */
  readonly threads: Readonly<Record<string, number>>;
  /** CPU seconds of the database's backends; null where unreadable. */
  readonly postgresCpu: number | null;
  /** CPU seconds the rest of the machine (other processes) used meanwhile; null off Linux. */
  readonly othersCpu: number | null;
  readonly report: { text?: string; reportSha256?: string; summary?: { text: string; reportSha256: string } };
}

/** Runs the CLI and returns its wall time, CPU split and `--json` report. */
async function timeCli(args: readonly string[], url: string): Promise<Timed> {
  const backends = await backendCpu(url);
  const before = procCpu('self');
  const busyBefore = machineBusy();
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, [MAIN, ...args, '--json', '--quiet', '--pg', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const seenThreads = new Map<string, { name: string; cpu: number }>();
  const sampling = setInterval(() => {
    if (child.pid !== undefined) for (const [tid, t] of threadCpu(child.pid)) seenThreads.set(tid, t);
  }, 100);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(sampling);
  const after = procCpu('self');
  const busyAfter = machineBusy();
  const postgresCpu = await backends.stop();
  const nodeCpu = before === null || after === null ? null : after.children - before.children;
  const ours = sum(nodeCpu, postgresCpu);
  // Exit 4: finished with the corpus's broken documents as failures.
  if (code !== 0 && code !== 4) throw new Error(`backfill-kit ${args.join(' ')} exited ${code}: ${stdout}`);
  return {
    seconds,
    nodeCpu,
    threads: [...seenThreads.values()].reduce<Record<string, number>>((by, t) => {
      const g = threadGroup(t.name);
      by[g] = (by[g] ?? 0) + t.cpu;
      return by;
    }, {}),
    postgresCpu,
    othersCpu: busyBefore === null || busyAfter === null || ours === null ? null : Math.max(0, busyAfter - busyBefore - ours),
    report: (JSON.parse(stdout) as { report: Timed['report'] }).report,
  };
}

const SPIN = fileURLToPath(new URL('../children/spin.mjs', import.meta.url));
/** The spin loop's iterations (BENCH_SPIN_ITERATIONS, default 150,000,000). */
const SPIN_ITERATIONS = envInt('BENCH_SPIN_ITERATIONS', 150_000_000);
/** Rounds of each speed-up figure and of the start-up timing (BENCH_SPEEDUP_RUNS, BENCH_STARTUP_RUNS; default 3 each, the median reported). */
const SPEEDUP_RUNS = envInt('BENCH_SPEEDUP_RUNS', 3);
const STARTUP_RUNS = envInt('BENCH_STARTUP_RUNS', 3);
const NORMALIZE = fileURLToPath(new URL('../children/normalize.mjs', import.meta.url));

/** What a child printed: its loop's seconds, then (the normalizing child) the seconds of CPU its process used meanwhile. */
interface ChildTimes {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

/** The times each of `count` copies of a child script, started together, printed. */
async function together(args: readonly string[], count: number): Promise<ChildTimes[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ChildTimes>((resolve, reject) => {
          const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve(childTimes(out)) : reject(new Error(`${args.join(' ')} exited with ${code}`))));
        }),
    ),
  );
}

function childTimes(out: string): ChildTimes {
  const [seconds = Number.NaN, cpuSeconds = Number.NaN] = out.trim().split(/\s+/).map(Number);
  return { seconds, cpuSeconds };
}

/**
 * Work per second of two copies of a child at once over one alone (median
 * of 3): 2 on two free, independent cores; and the cores one copy alone
 * keeps busy (median of 3; NaN for a child that does not print its CPU).
 */
async function speedupOf(args: readonly string[]): Promise<{ speedup: number; coresAlone: number }> {
  const speedups: number[] = [];
  const cores: number[] = [];
  for (let i = 0; i < SPEEDUP_RUNS; i += 1) {
    const [alone = { seconds: Number.NaN, cpuSeconds: Number.NaN }] = await together(args, 1);
    cores.push(alone.cpuSeconds / alone.seconds);
    speedups.push((2 * alone.seconds) / Math.max(...(await together(args, 2)).map((t) => t.seconds)));
  }
  return { speedup: median(speedups), coresAlone: median(cores) };
}

/**
 * Seeds the raw documents table; the first `sampleDocs` documents also go
 * to `sampleFile` as JSON lines, for the normalizing child.
 */
async function seed(url: string, docs: number, products: number, sampleFile: string, sampleDocs: number): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const source = new PgRawDocumentSource({ pg: pool });
    (await source.prepare())._unsafeUnwrap();
    let chunk: { digest: string; retrievedAt: Date; content: string }[] = [];
    let bytes = 0;
    const sample: string[] = [];
    for (const d of generateVexDocuments({
      seed: 2027,
      count: docs,
      brokenRatio: 0.02,
      formats: ['csaf'],
      productsPerDocument: products,
      vulnerabilitiesPerDocument: 3,
      statusedProductsPerVulnerability: 5,
    })) {
      chunk.push({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content });
      if (sample.length < sampleDocs) sample.push(JSON.stringify({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content }));
      bytes += d.content.length;
      if (chunk.length === 200) {
        (await source.append(chunk))._unsafeUnwrap();
        chunk = [];
      }
    }
    if (chunk.length) (await source.append(chunk))._unsafeUnwrap();
    writeFileSync(sampleFile, `${sample.join('\n')}\n`);
    await pool.query('VACUUM ANALYZE vex.raw_documents');
    return bytes;
  } finally {
    await pool.end();
  }
}

async function main(): Promise<void> {
  await withScratchDatabase('workers', measureAll);
}

async function measureAll(url: string): Promise<void> {
  const docs = envInt('BENCH_HEAVY_DOCS', 8000);
  const products = envInt('BENCH_HEAVY_PRODUCTS', 400);
  const repeats = envInt('BENCH_REPEATS', 3);
  const batchSize = envInt('BENCH_BATCH', 100);
  const rangeSize = envInt('BENCH_RANGE', 500);
  const cores = availableParallelism();
  const checkpoint = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CHECKPOINT');
    await c.end();
  };
  const loads: number[] = [];
  const sampleDir = mkdtempSync(join(tmpdir(), 'bk-bench-normalize-'));
  const sampleFile = join(sampleDir, 'documents.jsonl');
  const removeSample = (): void => rmSync(sampleDir, { recursive: true, force: true });
  const forget = whenInterrupted(removeSample);
  try {
    const bytes = await seed(url, docs, products, sampleFile, envInt('BENCH_NORMALIZE_DOCS', 1500));
    const single = (schema: string, extra: readonly string[] = []): Promise<Timed> =>
      timeCli(['statements', 'backfill', '--run-id', 'one', '--batch-size', String(batchSize), ...extra, ...tables(schema)], url);
    const workers = (schema: string, extra: readonly string[] = []): Promise<Timed> =>
      timeCli(
        [
          'statements',
          'backfill',
          '--run-id',
          'two',
          '--workers',
          '2',
          '--batch-size',
          String(batchSize),
          '--range-size',
          String(rangeSize),
          ...extra,
          ...tables(schema),
          ...JOBS,
        ],
        url,
      );

    // Install the job engine's schema once, as a deployment would have it
    // (a worker alone refuses runs tables no planner has made).
    await workers('warmup', ['--max-documents', '1']);

    // Start-up: the whole command over one document.
    const startOne: number[] = [];
    const startTwo: number[] = [];
    for (let i = 0; i < STARTUP_RUNS; i += 1) {
      startOne.push((await single(`start_one_${i}`, ['--max-documents', '1'])).seconds);
      startTwo.push((await workers(`start_two_${i}`, ['--max-documents', '1'])).seconds);
    }

    const speedupOfCores = (await speedupOf([SPIN, String(SPIN_ITERATIONS)])).speedup;
    const normalizing = await speedupOf([NORMALIZE, sampleFile]);
    const ones: Timed[] = [];
    const twos: Timed[] = [];
    const ratios: number[] = [];
    let text = '';
    let reportSha256 = '';
    for (let pass = 0; pass < repeats; pass += 1) {
      loads.push(loadavg()[0] ?? 0);
      const one = async (): Promise<Timed> => {
        await checkpoint();
        return single(`one_${pass}`);
      };
      const two = async (): Promise<Timed> => {
        await checkpoint();
        return workers(`two_${pass}`);
      };
      const [a, b] = pass % 2 === 0 ? [await one(), await two()] : await two().then(async (t) => [await one(), t] as const);
      const aHash = a.report.reportSha256 ?? '';
      const bHash = b.report.summary?.reportSha256 ?? '';
      text = a.report.text ?? '';
      if (aHash === '' || aHash !== bHash || text !== b.report.summary?.text)
        throw new Error(`different reports: ${text} ${aHash} vs ${bHash}`);
      reportSha256 = aHash;
      ones.push(a);
      twos.push(b);
      ratios.push(a.seconds / b.seconds);
    }
    loads.push(loadavg()[0] ?? 0);
    const mid = <T>(list: readonly T[], of: (t: T) => number | null): number | null => {
      const values = list.map(of);
      return values.some((v) => v === null) ? null : median(values as number[]);
    };
    /** Medians of the CPU by thread group: main, worker, v8 (V8's garbage collector and compiler threads), other. */
    const threadSplit = (list: readonly Timed[]): Record<string, number | null> =>
      Object.fromEntries(
        (['main', 'worker', 'v8', 'other'] as const).map((g) => [
          g,
          list.some((t) => g in t.threads) ? round(mid(list, (t) => t.threads[g] ?? 0)) : null,
        ]),
      );
    const oneSeconds = median(ones.map((t) => t.seconds));
    const cpuOf = (list: readonly Timed[]): number | null =>
      sum(
        mid(list, (t) => t.nodeCpu),
        mid(list, (t) => t.postgresCpu),
      );
    const oneCpu = cpuOf(ones);
    const twoCpu = cpuOf(twos);
    const common = {
      unit: 'documents/s',
      documents: docs,
      productsPerDocument: products,
      corpusMiB: Math.round(bytes / 1048576),
      batchSize,
      rangeSize,
      cores,
      coreSpeedup: round(speedupOfCores, 3),
      normalizeSpeedup: round(normalizing.speedup, 3),
      normalizeCores: round(normalizing.coresAlone, 3),
      loadAverage: loads.map((l) => round(l, 1)),
      summary: text,
      // Both sides printed this report hash in every pass.
      reportSha256,
      reportsCompared: repeats,
    };
    report({
      ...common,
      case: 'statements-workers:1-process',
      n: docs,
      seconds: oneSeconds,
      throughput: docs / oneSeconds,
      peakRssMiB: null,
      baseline: null,
      ratio: null,
      runs: ones.map((t) => round(t.seconds)),
      startupSeconds: round(median(startOne)),
      nodeCpuSeconds: round(mid(ones, (t) => t.nodeCpu)),
      threadCpuSeconds: threadSplit(ones),
      postgresCpuSeconds: round(mid(ones, (t) => t.postgresCpu)),
      othersCpuSeconds: ones.map((t) => round(t.othersCpu)),
    });
    report({
      ...common,
      case: 'statements-workers:2-workers',
      n: docs,
      seconds: median(twos.map((t) => t.seconds)),
      throughput: docs / median(twos.map((t) => t.seconds)),
      peakRssMiB: null,
      baseline: '1 process (median of the per-pass ratios)',
      ratio: median(ratios),
      runs: twos.map((t) => round(t.seconds)),
      ratios: ratios.map((r) => round(r, 3)),
      startupSeconds: round(median(startTwo)),
      nodeCpuSeconds: round(mid(twos, (t) => t.nodeCpu)),
      threadCpuSeconds: threadSplit(twos),
      postgresCpuSeconds: round(mid(twos, (t) => t.postgresCpu)),
      othersCpuSeconds: twos.map((t) => round(t.othersCpu)),
      // CPU of one process over CPU of the two-worker run (Node and PostgreSQL): what splitting costs, whatever the load.
      cpuRatio: oneCpu === null || twoCpu === null ? null : round(oneCpu / twoCpu, 3),
    });
  } finally {
    forget();
    removeSample();
  }
}

await main();
