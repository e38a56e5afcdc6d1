/**
 * The index backfill's lock file is never seen empty, even for an instant:
 * a run killed at that instant would leave an empty lock, which names no
 * process whose death could be checked, so every later run would be
 * refused until an operator removed it by hand. Another process takes and
 * releases the lock over and over while this one reads the lock path as
 * fast as it can.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const lockModule = pathToFileURL(fileURLToPath(new URL('../../../src/index-backfill/lock-file.ts', import.meta.url))).href;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-lock-never-empty-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

it('another process taking and releasing the lock 1,000 times: the lock path never reads empty', async () => {
  const lock = join(dir, 'index.jsonl.backfill.lock');
  const done = join(dir, 'done');
  const script = join(dir, 'take.mts');
  writeFileSync(
    script,
    `import { writeFileSync } from 'node:fs';
import { acquireLock } from '${lockModule}';
for (let i = 0; i < 1000; i += 1) {
  const held = await acquireLock(process.argv[2]);
  if (held.isErr()) throw held.error;
  await held.value.release();
}
writeFileSync(process.argv[3], '');
`,
  );
  const child = spawn(process.execPath, ['--import', tsx, script, lock, done], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let reads = 0;
  let empty = 0;
  const until = Date.now() + 60_000;
  // Synchronous reads, as fast as they go, until the other process is done (it writes `done`) or has died.
  while (!existsSync(done) && child.exitCode === null && child.signalCode === null && Date.now() < until) {
    try {
      if (readFileSync(lock, 'utf8') === '') empty += 1;
      reads += 1;
    } catch {
      // Not there between a release and the next take.
    }
  }
  expect(await exited).toBe(0);
  expect(reads).toBeGreaterThan(100);
  expect(empty).toBe(0);
  // Nothing of the takes is left beside the lock.
  expect(readdirSync(dir).filter((name) => name.includes('lock'))).toEqual([]);
}, 120_000);
