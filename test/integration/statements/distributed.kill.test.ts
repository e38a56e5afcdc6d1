/**
 * The distributed statement backfill with real worker processes (the CLI)
 * and real PostgreSQL: a worker SIGKILLed in the middle of a range, another
 * started, and the result compared with an uninterrupted single-process run.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, waitForNoBackend, withApplicationName, type TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { dumpStatements, expectedCounters, psql, seedDocuments, seededPair } from './helpers.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

const seed = { seed: 23, count: 3000, brokenRatio: 0.04 };
const pair = seededPair(seed);

/** A range started but not finished, as the checkpoints table shows it. */
async function rangeInFlight(db: TestDatabase): Promise<boolean> {
  const rows = await db
    .query(
      `SELECT 1 FROM vex.statement_backfill_checkpoints WHERE run_id LIKE 'spread#range-%' AND NOT completed AND evaluated > 0 LIMIT 1`,
    )
    .catch(() => []);
  return rows.length > 0;
}

describe('statements plan / worker / report with a worker killed mid-range', () => {
  it('ends with the statements, sentence and report hash of an uninterrupted single-process run', async () => {
    // The uninterrupted single-process run works its own database while the distributed one is planned, killed and finished.
    const uninterrupted = cli(['statements', 'backfill', '--run-id', 'one', '--batch-size', '50', '--json'], {
      env: { PGURI: pair.reference.url },
    });

    const planned = await cli(['statements', 'plan', '--run-id', 'spread', '--batch-size', '50', '--range-size', '250', '--json'], {
      env: { PGURI: pair.victim.url },
    });
    // 10 ranges of 250, then the last 500 documents cut again from the end into 1, 1, 2, 4 batches of 50 (and the 2 left over).
    expect(jsonOf(planned).report.ranges.map((r: { documents: number }) => r.documents)).toEqual([
      ...Array(10).fill(250),
      100,
      200,
      100,
      50,
      50,
    ]);

    // Worker A, killed as soon as a range has committed a batch but not finished.
    const a = spawn(
      process.execPath,
      ['--import', tsxLoader, main, 'statements', 'worker', '--quiet', '--pg', withApplicationName(pair.victim.url, 'bk_worker_a')],
      { stdio: 'ignore' },
    );
    const aExit = new Promise<NodeJS.Signals | null>((resolve) => a.once('close', (_code, signal) => resolve(signal)));
    for (let i = 0; i < 1200 && !(await rangeInFlight(pair.victim)); i += 1) await new Promise((r) => setTimeout(r, 25));
    a.kill('SIGKILL');
    expect(await aExit).toBe('SIGKILL');
    await waitForNoBackend(pair.victim, 'bk_worker_a');
    const left = psql(
      pair.victim.url,
      "SELECT count(*) FROM vex.statement_backfill_checkpoints WHERE run_id LIKE 'spread#range-%' AND NOT completed",
    );
    expect(Number(left)).toBeGreaterThan(0);
    const running = await cli(['statements', 'report', '--run-id', 'spread'], { env: { PGURI: pair.victim.url } });
    expect(running.code).not.toBe(0);
    expect(running.code).toBe(7);
    expect(running.stderr).toMatch(/^error RUN_IN_PROGRESS: run spread is still running \(\d+\/\d+ documents, ranges \d+\/\d+, /m);
    expect(running.stderr).toMatch(/fix: +Report again once its workers are done/);
    expect(running.stderr).not.toMatch(/stale lock file/);

    // Two more workers finish the run, including the killed range once the engine hands it out again.
    const [b, c] = await Promise.all([
      cli(['statements', 'worker', '--until-done', '--json'], { env: { PGURI: pair.victim.url } }),
      cli(['statements', 'worker', '--until-done', '--concurrency', '2', '--json'], { env: { PGURI: pair.victim.url } }),
    ]);
    expect([b.code, c.code]).toEqual([0, 0]);

    const clean = jsonOf(await uninterrupted);
    const want = expectedCounters(pair.docs);
    expect(clean.report.text).toBe(
      `Backfill completed: evaluated ${want.evaluated}, backfilled ${want.backfilled}, claims written ${want.claimsWritten}, skipped 0, failures ${want.failures}.`,
    );

    const report = await cli(['statements', 'report', '--run-id', 'spread', '--json'], { env: { PGURI: pair.victim.url } });
    const r = jsonOf(report);
    expect(report.code).toBe(4); // completed, with the generated broken documents as failures (as the single-process run)
    expect(r.report.state).toBe('completed');
    expect(r.report.summary.text).toBe(clean.report.text);
    expect(r.report.summary.reportSha256).toBe(clean.report.reportSha256);
    expect(dumpStatements(pair.victim.url)).toBe(dumpStatements(pair.reference.url));
    expect(psql(pair.victim.url, 'SELECT count(*) FROM vex.statement_documents')).toBe(
      psql(pair.reference.url, 'SELECT count(*) FROM vex.statement_documents'),
    );
  }, 240_000);

  it('backfill --workers 2 does plan, workers and report on one host', async () => {
    const [db, single] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      await Promise.all([seedDocuments(db.url, { ...seed, count: 800 }), seedDocuments(single.url, { ...seed, count: 800 })]);
      // The single process and the two workers each work their own database, at the same time.
      const [oneRun, two] = await Promise.all([
        cli(['statements', 'backfill', '--run-id', 'x', '--json'], { env: { PGURI: single.url } }),
        cli(['statements', 'backfill', '--run-id', 'x', '--workers', '2', '--range-size', '100', '--json'], { env: { PGURI: db.url } }),
      ]);
      const one = jsonOf(oneRun);
      const r = jsonOf(two);
      expect(r.report.state).toBe('completed');
      expect(r.report.summary.reportSha256).toBe(one.report.reportSha256);
      expect(r.report.summary.text).toBe(one.report.text);
    } finally {
      await Promise.all([db.drop(), single.drop()]);
    }
  }, 180_000);
});
