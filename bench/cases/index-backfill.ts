/**
 * `index-backfill` case: `backfillIndex` against the runbook's Python tool
 * (`../shared/peers/index_backfill.py`) on identical copies of the same
 * index, over the same episode tree, in the same run.
 *
 * - Main round: BENCH_EPISODES episodes (default 2,000) of about
 *   BENCH_EPISODE_KB KiB each (default 1,024, incompressible payload), over
 *   10 hosts; every 10th episode is already indexed.
 * - Memory rounds: BENCH_LARGE_EPISODES episodes (default 40) of the same
 *   size, then the same number ten times as large. Peak RSS should stay
 *   flat for the library and grows for the Python tool, which holds each
 *   decompressed tarball in memory.
 *
 * The page cache is warmed before timing, so both tools read from memory.
 * Besides wall time (`ratio`), CPU seconds (user + system, including the
 * library's worker threads and the Python tool's `zstd` children) are
 * reported as `cpuRatio`, which shared-machine contention distorts less.
 * Each library run is a fresh plain-node process on the compiled package
 * (RSS sampled in that process, `bench/children/backfill-index.mjs`); the Python tool's RSS is sampled from /proc (its process
 * plus its `zstd` children) every 10 ms. Both tools' appended lines are
 * checked to be identical (received_at_wall aside) before figures print.
 * Without the tool (or python3, or zstd, which it runs) the library alone is
 * measured, with null baselines.
 * Generated trees are kept in .bench-tmp and reused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildEpisodeTarball } from '../../src/testing/episode-tarball.js';
import { BENCH_TMP, envInt, report, timeShell, toolsFor } from '../lib.js';

const EPISODES = envInt('BENCH_EPISODES', 2000);
const EPISODE_KB = envInt('BENCH_EPISODE_KB', 1024);
const LARGE_EPISODES = envInt('BENCH_LARGE_EPISODES', 40);
const HOSTS = 10;
const PEER = resolve(process.cwd(), '..', 'shared', 'peers', 'index_backfill.py');

interface Tree {
  readonly root: string;
  readonly template: string;
  readonly bytes: number;
}

/** Builds (or reuses) `count` episodes of `kb` KiB and an index listing every 10th. */
async function tree(count: number, kb: number): Promise<Tree> {
  const dir = join(BENCH_TMP, 'index-backfill', `${count}x${kb}k`);
  const root = join(dir, 'episodes');
  const template = join(dir, 'index.template.jsonl');
  const done = join(dir, '.complete');
  if (!existsSync(done)) {
    rmSync(dir, { recursive: true, force: true });
    const lines: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const host = `lab-${String(i % HOSTS).padStart(2, '0')}`;
      const id = `ep-${String(i).padStart(6, '0')}`;
      const commit = randomBytes(20).toString('hex');
      (
        await buildEpisodeTarball({
          meta: { episode_id: id, host_id: host, code_version: { commit, branch: 'main' } },
          files: { 'frames.bin': randomBytes(kb * 1024), 'events.jsonl': '{"t": 0}\n'.repeat(64) },
          path: join(root, host, `${id}.tar.zst`),
        })
      )._unsafeUnwrap();
      if (i % 10 === 0) lines.push(JSON.stringify({ episode_id: id, host_id: host, schema_version: 1 }));
    }
    writeFileSync(template, lines.map((l) => `${l}\n`).join(''));
    writeFileSync(done, '');
  }
  let bytes = 0;
  for (const host of readdirSync(root)) for (const f of readdirSync(join(root, host))) bytes += readFileSync(join(root, host, f)).length;
  return { root, template, bytes };
}

const mask = (text: string): string => text.replace(/"received_at_wall": "[^"]*"/g, '"received_at_wall": "T"');

/** VmRSS (KiB) of a process and its children, from /proc; 0 once it is gone. */
function rssKiB(pid: number): number {
  try {
    const own = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    return own + kids.reduce((sum, kid) => sum + rssKiB(kid), 0);
  } catch {
    return 0;
  }
}

/** Runs the Python tool, timing it and sampling its RSS. */
async function runPeer(root: string, index: string): Promise<{ seconds: number; peakRssMiB: number; cpuSeconds: number }> {
  const start = process.hrtime.bigint();
  // bash's `times` reports the CPU of its children (python and the zstd processes it waited for).
  const child = spawn(
    'bash',
    ['-c', 'python3 "$@" >/dev/null; s=$?; times >&2; exit $s', 'bash', PEER, '--episodes-root', root, '--index', index],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, rssKiB(child.pid!))), 10);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`python tool exited with ${code}: ${stderr}`);
  const [user = 0, sys = 0] = [...(stderr.trim().split('\n').pop() ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map(
    (m) => Number(m[1]) * 60 + Number(m[2]),
  );
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssMiB: peak / 1024, cpuSeconds: user + sys };
}

/** Runs `backfillIndex` in a fresh plain-node process on dist/, so its peak RSS is its own. */
function runLibrary(root: string, index: string): { seconds: number; peakRssMiB: number; appended: number; cpuSeconds: number } {
  const script = fileURLToPath(new URL('../children/backfill-index.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [script, root, index], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`library child exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { seconds: number; peakRssMiB: number; appended: number; cpuSeconds: number };
}

async function round(
  label: string,
  count: number,
  kb: number,
  withPeer: boolean,
): Promise<{ ours: number; theirs: number | null; seconds: number }> {
  const t = await tree(count, kb);
  await timeShell(`find ${JSON.stringify(t.root)} -type f -exec cat {} + > /dev/null`);
  const work = join(BENCH_TMP, 'index-backfill', `run-${count}x${kb}k`);
  rmSync(work, { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(work, { recursive: true });
  const libIndex = join(work, 'lib.jsonl');
  const pyIndex = join(work, 'py.jsonl');
  copyFileSync(t.template, libIndex);
  copyFileSync(t.template, pyIndex);
  const ours = runLibrary(t.root, libIndex);
  const theirs = withPeer ? await runPeer(t.root, pyIndex) : null;
  if (theirs !== null && mask(readFileSync(libIndex, 'utf8')) !== mask(readFileSync(pyIndex, 'utf8')))
    throw new Error(`${label}: the two tools appended different lines`);
  const mb = t.bytes / 1048576;
  report({
    case: 'index-backfill',
    round: label,
    n: count,
    episodeKiB: kb,
    appended: ours.appended,
    seconds: ours.seconds,
    throughput: count / ours.seconds,
    unit: 'episodes/s',
    mbPerSecond: Math.round((mb / ours.seconds) * 10) / 10,
    peakRssMiB: ours.peakRssMiB,
    baseline: theirs === null ? null : 'python3 index_backfill.py (the runbook tool)',
    baselineSeconds: theirs?.seconds ?? null,
    baselinePeakRssMiB: theirs?.peakRssMiB ?? null,
    ratio: theirs === null ? null : theirs.seconds / ours.seconds,
    cpuSeconds: ours.cpuSeconds,
    baselineCpuSeconds: theirs?.cpuSeconds ?? null,
    cpuRatio: theirs === null ? null : Math.round((theirs.cpuSeconds / ours.cpuSeconds) * 100) / 100,
    // The two tools' appended lines were compared (and agreed).
    sameLines: theirs !== null,
  });
  return { ours: ours.peakRssMiB, theirs: theirs?.peakRssMiB ?? null, seconds: ours.seconds };
}

async function main(): Promise<void> {
  const what = 'index-backfill: the comparison with the runbook tool (the library alone is measured)';
  const havePeer = existsSync(PEER);
  if (!havePeer) process.stderr.write(`[bench] skipped: ${what} (the tool is not at ${PEER})\n`);
  const withPeer = havePeer && toolsFor(what, ['python3', 'zstd']);
  await round('main', EPISODES, EPISODE_KB, withPeer);
  const small = await round('memory-1x', LARGE_EPISODES, EPISODE_KB, withPeer);
  const large = await round('memory-10x-larger-episodes', LARGE_EPISODES, EPISODE_KB * 10, withPeer);
  report({
    case: 'index-backfill',
    round: 'peak-rss-growth-at-10x-episode-size',
    n: LARGE_EPISODES,
    // The library's time over the two memory rounds this line compares.
    seconds: small.seconds + large.seconds,
    throughput: (2 * LARGE_EPISODES) / (small.seconds + large.seconds),
    unit: 'episodes/s',
    peakRssMiB: large.ours,
    baseline: withPeer ? 'python3 index_backfill.py (the runbook tool)' : null,
    ratio: null,
    oursGrowthMiB: large.ours - small.ours,
    baselineGrowthMiB: large.theirs === null || small.theirs === null ? null : large.theirs - small.theirs,
  });
}

await main();
