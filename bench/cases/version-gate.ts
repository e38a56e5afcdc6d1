/**
 * `version-gate` case: `VersionGate.check` latency from a warm cache (p50,
 * p99 over BENCH_GATE_CALLS calls, default 1,000,000, each timed on its own),
 * and requests/s through a node:http server with the gate's middleware
 * against the same server without it, in the same run. Each server runs in
 * its own child process; the load generator is node with a keep-alive
 * `http.Agent`, over loopback only, with a bounded request count
 * (BENCH_GATE_REQUESTS per round, default 10,000; BENCH_RUNS paired rounds,
 * default 7, reported as the median of the per-round gated/plain ratios).
 * Because HTTP figures on a busy shared machine are noisy, it also times the
 * middleware's own cost per request in-process and sets it against the plain
 * server's CPU time per request.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, createServer, request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { VersionGate } from '../../src/version-gate/index.js';
import { createRepo, removeScratchDirs } from '../../test/integration/version-gate/git-fixture.js';
import { envInt, median, report, withCleanup } from '../lib.js';

const CALLS = envInt('BENCH_GATE_CALLS', 1_000_000);
const REQUESTS = envInt('BENCH_GATE_REQUESTS', 10_000);
const CONCURRENCY = envInt('BENCH_GATE_CONCURRENCY', 32);
const RUNS = envInt('BENCH_RUNS', 7);
/** The served gate's TTL; a huge value shows the cost without the periodic git spawn. */
const SERVER_TTL_MS = envInt('BENCH_GATE_TTL_MS', 5_000);
const REMEDIATION = ['cd /srv/lab-agent && git pull --ff-only', 'sudo systemctl restart lab-agent'];

type Mode = 'plain' | 'gated';

/** Child mode: one server, plain or gated, that reports its CPU time on request. */
async function server(mode: Mode, repoPath: string): Promise<void> {
  const gate = new VersionGate({ repoPath, remediation: REMEDIATION, ttlMs: SERVER_TTL_MS });
  (await gate.ready())._unsafeUnwrap();
  const gated = gate.middleware();
  const reply = (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  };
  const srv = createServer(mode === 'gated' ? (req, res) => gated(req, res, () => reply(res)) : (_req, res) => reply(res));
  srv.keepAliveTimeout = 30_000;
  srv.listen(0, '127.0.0.1', () => process.send!({ port: (srv.address() as AddressInfo).port }));
  // A case that ended without stopping it (it failed or was interrupted) leaves no server behind.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: string) => {
    if (m === 'cpu') process.send!({ cpu: process.cpuUsage() });
    if (m === 'stop') srv.close(() => void gate.close().then(() => process.exit(0)));
  });
}

interface Child {
  readonly proc: ChildProcess;
  readonly port: number;
  cpuMicros(): Promise<number>;
}

async function startServer(mode: Mode, repoPath: string): Promise<Child> {
  const proc = fork(fileURLToPath(import.meta.url), ['server', mode, repoPath], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('message', (m: { port: number }) => resolve(m.port));
    proc.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  const cpuMicros = (): Promise<number> =>
    new Promise((resolve) => {
      proc.once('message', (m: { cpu: NodeJS.CpuUsage }) => resolve(m.cpu.user + m.cpu.system));
      proc.send('cpu');
    });
  return { proc, port, cpuMicros };
}

/** Sends `total` GETs over `CONCURRENCY` keep-alive connections; resolves requests/s and the server's CPU µs per request. */
async function load(target: Child, commit: string, total: number): Promise<{ rps: number; cpuPerRequestUs: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: target.port, path: '/episodes/x', agent, headers: { 'x-code-commit': commit } },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (sent < total) {
      sent += 1;
      await one();
    }
  };
  const cpuBefore = await target.cpuMicros();
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuAfter = await target.cpuMicros();
  agent.destroy();
  return { rps: total / seconds, cpuPerRequestUs: (cpuAfter - cpuBefore) / total };
}

/**
 * The middleware's own cost per accepted request, in ns: the gated call
 * minus the same loop calling `next` directly, over fresh request objects.
 */
function middlewareCost(gate: VersionGate, commits: readonly string[]): number {
  const gated = gate.middleware();
  const res = {} as ServerResponse;
  let nexts = 0;
  const next = (): void => {
    nexts += 1;
  };
  const direct = (_req: IncomingMessage, _res: ServerResponse, n: () => void): void => n();
  const time = (fn: (req: IncomingMessage, res: ServerResponse, n: () => void) => void): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i += 1)
      fn({ headers: { 'x-code-commit': commits[i % commits.length] } } as unknown as IncomingMessage, res, next);
    return Number(process.hrtime.bigint() - start) / CALLS;
  };
  time(gated);
  const samples = Array.from({ length: 3 }, () => time(gated) - time(direct));
  if (nexts !== CALLS * 7) throw new Error('middleware did not pass every request on');
  return Math.max(0, median(samples));
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Times each of CALLS calls of `fn(inputs[i % n])` on its own; returns ns percentiles. */
function latency(
  inputs: readonly string[],
  fn: (value: string) => unknown,
): { p50: number; p99: number; p999: number; max: number; meanNs: number } {
  const samples = new Float64Array(CALLS);
  const n = inputs.length;
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i += 1) {
    const value = inputs[i % n]!;
    const t0 = process.hrtime.bigint();
    fn(value);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  const meanNs = Number(process.hrtime.bigint() - start) / CALLS;
  samples.sort();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), p999: percentile(samples, 99.9), max: samples[CALLS - 1]!, meanNs };
}

async function main(): Promise<void> {
  // The scratch repository goes however the case ends.
  await withCleanup(removeScratchDirs, measureAll);
}

async function measureAll(): Promise<void> {
  const repo = createRepo(150);
  const commits = repo.commits();
  await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
  (await gate.ready())._unsafeUnwrap();

  // Warm the JIT before measuring.
  for (let i = 0; i < 200_000; i += 1) gate.check(commits[i % 150]);

  const timerOnly = latency(commits.slice(0, 100), () => undefined);
  const variants: { name: string; inputs: string[]; expect: 'ok' | 412 }[] = [
    { name: 'accepted (lower-case)', inputs: commits.slice(0, 100), expect: 'ok' },
    { name: 'accepted (upper-case, fresh string per call)', inputs: commits.slice(0, 100).map((c) => c.toUpperCase()), expect: 'ok' },
    { name: '412 (outside the window)', inputs: commits.slice(100), expect: 412 },
  ];
  for (const v of variants) {
    const probe = gate.check(v.inputs[0]);
    if ((v.expect === 'ok') !== probe.isOk()) throw new Error(`${v.name}: unexpected verdict`);
    const l = latency(v.inputs, (value) => gate.check(value));
    report({
      case: 'version-gate',
      n: CALLS,
      seconds: (l.meanNs * CALLS) / 1e9,
      throughput: 1e9 / l.meanNs,
      unit: 'checks/s',
      peakRssMiB: null,
      baseline: 'hrtime pair around an empty call',
      ratio: null,
      variant: `check ${v.name}`,
      p50Us: l.p50 / 1000,
      p99Us: l.p99 / 1000,
      p999Us: l.p999 / 1000,
      maxUs: l.max / 1000,
      timerOverheadP50Us: timerOnly.p50 / 1000,
      timerOverheadP99Us: timerOnly.p99 / 1000,
      goal: 'p99 < 5 µs',
      goalMet: l.p99 < 5_000,
    });
  }

  const middlewareNs = middlewareCost(gate, commits.slice(0, 100));

  const plain = await startServer('plain', repo.dir);
  const gatedServer = await startServer('gated', repo.dir);
  try {
    await load(plain, commits[0]!, Math.min(REQUESTS, 5_000)); // warm-up
    await load(gatedServer, commits[0]!, Math.min(REQUESTS, 5_000));
    const rounds: { plain: number; gated: number; plainCpu: number; gatedCpu: number }[] = [];
    for (let r = 0; r < RUNS; r += 1) {
      // Alternate the order so drift on a shared machine hits both sides.
      const first = r % 2 === 0 ? plain : gatedServer;
      const second = first === plain ? gatedServer : plain;
      const a = await load(first, commits[0]!, REQUESTS);
      const b = await load(second, commits[0]!, REQUESTS);
      const p = first === plain ? a : b;
      const g = first === plain ? b : a;
      rounds.push({ plain: p.rps, gated: g.rps, plainCpu: p.cpuPerRequestUs, gatedCpu: g.cpuPerRequestUs });
    }
    const plainRps = median(rounds.map((x) => x.plain));
    const gatedRps = median(rounds.map((x) => x.gated));
    const ratio = median(rounds.map((x) => x.gated / x.plain));
    const plainCpuUs = median(rounds.map((x) => x.plainCpu));
    report({
      case: 'version-gate',
      n: REQUESTS * RUNS,
      seconds: (REQUESTS * RUNS) / gatedRps,
      throughput: gatedRps,
      unit: 'requests/s',
      peakRssMiB: null,
      baseline: 'same node:http server without the gate',
      ratio,
      variant: `node:http middleware, ${CONCURRENCY} keep-alive connections, gate ttlMs ${SERVER_TTL_MS}`,
      baselineThroughput: plainRps,
      perRound: rounds.map((x) => ({ plain: Math.round(x.plain), gated: Math.round(x.gated) })),
      serverCpuPerRequestUs: { plain: plainCpuUs, gated: median(rounds.map((x) => x.gatedCpu)) },
      middlewareNsPerRequest: middlewareNs,
      middlewareShareOfPlainCpu: middlewareNs / 1000 / plainCpuUs,
      goal: 'middleware costs < 5% of requests/s',
      goalMet: ratio > 0.95,
    });
  } finally {
    for (const c of [plain, gatedServer]) {
      const exited = new Promise((resolve) => c.proc.once('exit', resolve));
      c.proc.send('stop');
      await exited;
    }
  }
}

if (process.argv[2] === 'server') {
  void server(process.argv[3] as Mode, process.argv[4]!);
} else {
  await main();
}
