/**
 * Several backfills that find the same stale lock (its holder SIGKILLed)
 * at the same instant: exactly one may take it over. Removing the stale
 * lock used to move it aside first and put it back when it turned out to be
 * another run's fresh lock; a third run could take the empty path in that
 * moment, and two runs held the lock (and appended) at once.
 *
 * Real processes contend: three long-lived contenders are released at one
 * instant, round after round, each round after the lock was left stale,
 * each file operation of theirs delayed at random (see fs-jitter.mjs) so
 * that they meet in every order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const contender = fileURLToPath(new URL('../../support/lock-contender.ts', import.meta.url));
const jitter = fileURLToPath(new URL('../../support/fs-jitter.mjs', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const start = (lock: string, ...args: string[]): { child: ChildProcess; lines: Interface } => {
  const child = spawn(process.execPath, ['--import', tsxLoader, '--import', jitter, contender, lock, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return { child, lines: createInterface({ input: child.stdout! }) };
};

describe('backfill lock left stale, found by three runs at once', () => {
  it('is taken over by one run at a time, round after round', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-ib-lock-race-'));
    const lock = join(dir, 'index.jsonl.backfill.lock');

    // A holder SIGKILLed while holding the lock: its lock is what each round finds.
    const holder = start(lock, 'hold');
    expect((await holder.lines[Symbol.asyncIterator]().next()).value).toBe('holding');
    holder.child.kill('SIGKILL');
    await new Promise((r) => holder.child.once('exit', r));
    const stale = readFileSync(lock, 'utf8');

    const contenders = [start(lock), start(lock), start(lock)];
    const reports = contenders.map(({ lines }) => lines[Symbol.asyncIterator]());
    const rounds = Number(process.env.ROUNDS ?? 200);
    const overlaps: string[] = []; // rounds where two held it at once, or it was left behind
    try {
      // Let the contenders load before the first round.
      await sleep(3000);
      for (let round = 0; round < rounds; round += 1) {
        if (!existsSync(lock)) writeFileSync(lock, stale);
        const at = Date.now() + 30;
        for (const { child } of contenders) child.stdin!.write(`${round} ${at}\n`);
        const lines = await Promise.all(reports.map(async (r) => (await r.next()).value as string));
        expect(
          lines.some((l) => l.split(' ')[1] !== 'refused'),
          lines.join('; '),
        ).toBe(true);
        if (lines.some((l) => l.split(' ')[1] === 'overlap')) overlaps.push(`round ${round}: ${lines.join('; ')}`);
        // Every holder released it: a lock still there (a holder's lock moved aside and put back later) locks out every next run.
        if (existsSync(lock)) {
          overlaps.push(`round ${round}: lock left after all released, naming ${JSON.stringify(readFileSync(lock, 'utf8'))}`);
          unlinkSync(lock);
        }
      }
    } finally {
      for (const { child } of contenders) child.kill('SIGKILL');
    }
    expect(overlaps).toEqual([]);
    // The markers that let one run remove the stale lock are gone too.
    expect(readdirSync(dir)).toEqual([]);
  });
});
