/**
 * Two processes given the same run id: the second is refused with LOCKED,
 * naming the first, instead of both "succeeding" with interleaved
 * checkpoints and different report hashes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, withApplicationName, type TestDatabase } from '../../support/pg.js';
import { seedDocuments } from './helpers.js';

const script = fileURLToPath(new URL('./run-backfill.fixture.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

interface Child {
  readonly firstProgress: Promise<void>;
  /** Lets a child started with `hold` go on past its first batch. */
  readonly release: () => void;
  readonly exit: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** With `hold`, the child keeps the run lock after its first batch until released, however slow the second child is to start. */
function startChild(url: string, runId: string, throttleMs: number, hold = false): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, url, runId, '100', String(throttleMs), ...(hold ? ['hold'] : [])], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let progressed: () => void = () => undefined;
  const firstProgress = new Promise<void>((resolve) => (progressed = resolve));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout += `${line}\n`;
    if (line.startsWith('PROGRESS ')) progressed();
  });
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { firstProgress, release: () => child.stdin.end('go\n'), exit };
}

function summaryOf(stdout: string): { text: string; reportSha256: string } {
  const { text, reportSha256 } = JSON.parse(
    stdout
      .split('\n')
      .find((l) => l.startsWith('SUMMARY '))!
      .slice(8),
  ) as { text: string; reportSha256: string };
  return { text, reportSha256 };
}

let db: TestDatabase;
let reference: TestDatabase;
const seed = { seed: 15, count: 1200, brokenRatio: 0.03 };

beforeAll(async () => {
  [db, reference] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  await Promise.all([seedDocuments(db.url, seed), seedDocuments(reference.url, seed)]);
});
afterAll(async () => {
  await Promise.all([db?.drop(), reference?.drop()]);
});

describe('two processes with the same run id', () => {
  it('the second is refused with LOCKED naming the holder; the first ends with the report of an uninterrupted run', async () => {
    const holder = startChild(withApplicationName(db.url, 'bk_lock_holder'), 'shared', 0, true);
    await holder.firstProgress;
    const second = await startChild(withApplicationName(db.url, 'bk_lock_second'), 'shared', 0).exit;
    holder.release();
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      /^LOCKED: run "shared" is already running, held by backend pid \d+, application_name "bk_lock_holder", host /m,
    );
    expect(second.stdout).not.toContain('SUMMARY');

    const first = await holder.exit;
    expect(first.code).toBe(0);
    const clean = await startChild(reference.url, 'shared', 0).exit;
    expect(summaryOf(first.stdout)).toEqual(summaryOf(clean.stdout));
    // The lock went with the holder: the same run id can be taken again (the run is complete, nothing to do).
    const rerun = await startChild(db.url, 'shared', 0).exit;
    expect(rerun.code).toBe(0);
    expect(summaryOf(rerun.stdout)).toEqual(summaryOf(clean.stdout));
  }, 120_000);
});
