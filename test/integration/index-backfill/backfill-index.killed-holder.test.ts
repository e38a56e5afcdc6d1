/**
 * A backfill SIGKILLed while it holds its lock leaves the lock file behind.
 * The next run must take it over without manual cleanup, also when the
 * dead run's process id belongs to another process by then: a busy host
 * reuses ids, and a restarted container usually gives the new run the
 * very id the killed one had (so the lock names the new run itself).
 *
 * The kernel's `ns_last_pid` (writable here) makes the next process forked
 * get the killed run's id; another process forking in between takes it
 * instead, so the test tries a few times.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { canChoosePids, NS_LAST_PID } from '../../support/pids.js';
import { cli } from '../cli/cli-harness.js';
import { smallTree } from './episode-tree.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A `sleep` process with id `pid`, or undefined when other processes kept taking it. */
async function processWithPid(pid: number): Promise<ChildProcess | undefined> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    writeFileSync(NS_LAST_PID, String(pid - 1));
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
  }
  return undefined;
}

/** Starts `index backfill` and SIGKILLs it as soon as its lock file exists; the killed run's pid. */
async function killHoldingLock(root: string, index: string): Promise<number | undefined> {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    let pid = 0;
    let ended = false;
    const run = cli(['index', 'backfill', '--episodes-root', root, '--index', index], { onSpawn: (p) => (pid = p) }).finally(
      () => (ended = true),
    );
    while (!ended && !existsSync(`${index}.backfill.lock`)) await sleep(2);
    if (!ended) process.kill(pid, 'SIGKILL');
    const done = await run;
    if (done.signal === 'SIGKILL' && existsSync(`${index}.backfill.lock`)) return pid;
    writeFileSync(index, '');
  }
  return undefined;
}

const ids = Array.from({ length: 400 }, (_, i) => `ep-${String(i).padStart(4, '0')}`);
const indexedIds = (index: string): string[] =>
  readFileSync(index, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { episode_id: string }).episode_id);

describe('backfillIndex after a run was SIGKILLed holding the lock', () => {
  it('takes the lock over when the killed run’s pid now belongs to another process', async (ctx) => {
    if (!canChoosePids()) ctx.skip('skipped: needs a writable /proc/sys/kernel/ns_last_pid to reuse a pid');
    const { root, index } = await smallTree('killed-holder', ids, '');
    const pid = await killHoldingLock(root, index);
    if (pid === undefined) ctx.skip('skipped: the run always finished before it could be killed');
    const impostor = await processWithPid(pid!);
    if (impostor === undefined) ctx.skip('skipped: other processes kept taking the pid');
    try {
      const r = await backfillIndex({ episodesRoot: root, index });
      expect(r.isOk() ? 'ok' : r.error.message).toBe('ok');
      const got = indexedIds(index);
      expect(new Set(got).size).toBe(got.length);
      expect(new Set(got)).toEqual(new Set(ids));
      expect(existsSync(`${index}.backfill.lock`)).toBe(false);
    } finally {
      impostor!.kill('SIGKILL');
    }
  });

  it('takes the lock over when it names this very process (a restarted container reusing the id)', async () => {
    const { root, index } = await smallTree('own-pid', ids.slice(0, 3), '');
    writeFileSync(`${index}.backfill.lock`, `${process.pid}\n${hostname()}\n`);
    const r = await backfillIndex({ episodesRoot: root, index });
    expect(r.isOk() ? 'ok' : r.error.message).toBe('ok');
    expect(indexedIds(index)).toHaveLength(3);
    expect(existsSync(`${index}.backfill.lock`)).toBe(false);
  });

  it('still refuses while a run of this very process holds the lock', async () => {
    const { root, index } = await smallTree('own-held', ids.slice(0, 40), '');
    const runs = await Promise.all([
      backfillIndex({ episodesRoot: root, index, concurrency: 1 }),
      backfillIndex({ episodesRoot: root, index, concurrency: 1 }),
    ]);
    expect(runs.filter((r) => r.isErr() && r.error.code === 'LOCKED').length).toBeLessThanOrEqual(1);
    const got = indexedIds(index);
    expect(got).toHaveLength(40);
    expect(new Set(got).size).toBe(40);
  });
});
