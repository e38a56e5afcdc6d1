import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { waitForNoBackend, withApplicationName } from '../../support/pg.js';
import { dumpStatements, expectedCounters, psql, seededPair } from './helpers.js';

const script = fileURLToPath(new URL('./run-backfill.fixture.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

interface ChildSummary {
  text: string;
  reportSha256: string;
  resumed: boolean;
  evaluated: number;
}

/**
 * Runs the fixture script. With `killAfter`, SIGKILLs it as soon as progress
 * reaches that many evaluated documents and resolves with `null`.
 */
function runChild(url: string, runId: string, batchSize: number, throttleMs: number, killAfter?: number): Promise<ChildSummary | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, url, runId, String(batchSize), String(throttleMs)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let summary: ChildSummary | null = null;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('PROGRESS ') && killAfter !== undefined && Number(line.slice(9)) >= killAfter) child.kill('SIGKILL');
      if (line.startsWith('SUMMARY ')) summary = JSON.parse(line.slice(8)) as ChildSummary;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (killAfter !== undefined) {
        if (signal === 'SIGKILL') resolve(null);
        else reject(new Error(`expected the child to be killed, it exited ${code}: ${stderr}`));
      } else if (code === 0 && summary) resolve(summary);
      else reject(new Error(`child exited ${code} ${signal}: ${stderr}`));
    });
  });
}

const pair = seededPair({ seed: 6, count: 3000, brokenRatio: 0.04 });

describe('StatementBackfiller killed with SIGKILL', () => {
  it('resumes with the same runId to the same statements and the same summary as an uninterrupted run', async () => {
    const clean = await runChild(pair.reference.url, 'nightly', 100, 0);
    const want = expectedCounters(pair.docs);
    expect(clean!.text).toBe(
      `Backfill completed: evaluated ${want.evaluated}, backfilled ${want.backfilled}, claims written ${want.claimsWritten}, skipped 0, failures ${want.failures}.`,
    );

    // Killed while throttling between batches… (A COMMIT the child had sent
    // may still land after it dies, so every read waits for its backends.)
    const killed = withApplicationName(pair.victim.url, 'bk_statements_kill');
    expect(await runChild(killed, 'nightly', 100, 40, 300)).toBeNull();
    await waitForNoBackend(pair.victim, 'bk_statements_kill');
    const afterFirst = Number(psql(pair.victim.url, "SELECT evaluated FROM vex.statement_backfill_checkpoints WHERE run_id = 'nightly'"));
    expect(afterFirst).toBeGreaterThanOrEqual(300);
    expect(afterFirst).toBeLessThan(3000);
    // …and again with no throttle, most likely in the middle of a batch.
    expect(await runChild(killed, 'nightly', 250, 0, afterFirst + 250)).toBeNull();
    await waitForNoBackend(pair.victim, 'bk_statements_kill');
    const afterSecond = Number(psql(pair.victim.url, "SELECT evaluated FROM vex.statement_backfill_checkpoints WHERE run_id = 'nightly'"));
    expect(afterSecond).toBeGreaterThan(afterFirst);
    expect(afterSecond).toBeLessThan(3000);
    // What is committed always matches the checkpoint: claims never run ahead of it.
    expect(
      psql(
        pair.victim.url,
        "SELECT (SELECT count(*) FROM vex.statements) - claims_written FROM vex.statement_backfill_checkpoints WHERE run_id = 'nightly'",
      ),
    ).toBe('0');

    const resumed = await runChild(pair.victim.url, 'nightly', 100, 0);
    expect(resumed!.resumed).toBe(true);
    expect(resumed!.text).toBe(clean!.text);
    expect(resumed!.reportSha256).toBe(clean!.reportSha256);
    const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
    const [got, expected] = [dumpStatements(pair.victim.url), dumpStatements(pair.reference.url)];
    expect(got.split('\n').length).toBe(want.claimsWritten);
    expect(sha(got)).toBe(sha(expected));
    expect(psql(pair.victim.url, 'SELECT count(*) FROM vex.statement_backfill_failures')).toBe(String(want.failures));
  }, 180_000);
});
