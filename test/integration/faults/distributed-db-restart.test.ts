/**
 * PostgreSQL restarts (immediate shutdown, crash recovery) while
 * `statements worker --until-done` processes run a planned run: the workers
 * wait for the database, the run completes with the single-process report
 * (nothing lost or duplicated), a worker started while the database is
 * down waits for it the same way, and an outage longer than
 * `--reconnect-seconds` ends a worker with DB_CONNECTION.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedDatabase, startEmbeddedPostgres, type EmbeddedPostgres } from '../../support/embedded-pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { psql, seedDocuments } from '../statements/helpers.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

let work: string;
let server: EmbeddedPostgres;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bk-db-restart-'));
  server = await startEmbeddedPostgres(work, { crashSafe: true });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A database of its own on the crashable server. */
const database = (name: string): Promise<string> => createEmbeddedDatabase(server, name);

/** A `statements worker --until-done` process; resolves with its exit code and stderr. */
function worker(url: string, ...flags: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsxLoader, main, 'statements', 'worker', '--until-done', ...flags, '--pg', url], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

/**
 * Waits until `n` ranges of run `runId` have completed (the checkpoints table exists once a
 * worker has prepared its tables), polling every 25 ms; fails after a minute.
 */
async function untilRangesCompleted(url: string, runId: string, n: number): Promise<void> {
  const query = `SELECT count(*) FROM vex.statement_backfill_checkpoints WHERE run_id LIKE '${runId}#range-%' AND completed`;
  for (let i = 0; i < 2400; i += 1) {
    let done = 0;
    try {
      done = Number(psql(url, query).trim() || 0);
    } catch {}
    if (done >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`run ${runId}: fewer than ${n} ranges completed within a minute`);
}

describe('PostgreSQL restarts while --until-done workers run', () => {
  it('the workers ride out the restart and the run completes with the single-process report', async () => {
    const seed = { seed: 5, count: 6000, brokenRatio: 0.02 };
    const [refUrl, url] = [await database('restart_ref'), await database('restart_run')];
    await Promise.all([seedDocuments(refUrl, seed), seedDocuments(url, seed)]);

    expect((await cli(['statements', 'plan', '--run-id', 'night', '--batch-size', '50', '--range-size', '250', '--pg', url])).code).toBe(0);
    const workers = [worker(url), worker(url)];
    // Restart once a few ranges are done and others are in flight.
    await untilRangesCompleted(url, 'night', 3);
    await server.crash();
    await new Promise((r) => setTimeout(r, 1500)); // a restart takes a moment
    await server.restart();
    // The uninterrupted single-process run, on its own database, while the workers finish.
    const uninterrupted = cli(['statements', 'backfill', '--run-id', 'one', '--batch-size', '50', '--json'], { env: { PGURI: refUrl } });

    const exits = await Promise.all(workers);
    const clean = jsonOf(await uninterrupted);
    const before = jsonOf(await cli(['statements', 'report', '--run-id', 'night', '--json', '--pg', url]));
    // What a fresh worker makes of it afterwards (shows whether anything was lost, not only stalled).
    const recovery = await cli(['statements', 'worker', '--until-done', '--pg', url]);
    const report = await cli(['statements', 'report', '--run-id', 'night', '--json', '--pg', url]);
    const r = jsonOf(report);
    const recovered = `before recovery: ${before.report?.state ?? before.error?.code}; a fresh worker exited ${recovery.code}, then ${r.report?.state}, hash ${r.report?.summary?.reportSha256 === clean.report.reportSha256 ? 'equal to' : 'DIFFERENT from'} the single process's`;
    // Diagnostics for the report: how each worker ended.
    const tails = `${exits.map((e) => `exit ${e.code}: ${e.stderr.split('\n').filter(Boolean).slice(-3).join(' | ')}`).join('\n')}\n${recovered}`;
    expect(
      exits.map((e) => e.code),
      tails,
    ).toEqual([0, 0]);
    for (const e of exits) expect(e.stderr, tails).toMatch(/the database is unreachable; waiting for it/);
    expect(before.report?.state, tails).toBe('completed');
    expect(r.report?.state, `${report.stderr}\n${tails}`).toBe('completed');
    expect(r.report.summary.reportSha256).toBe(clean.report.reportSha256);
    expect(r.report.summary.text).toBe(clean.report.text);
    // Nothing duplicated: one documents row per backfilled document, and the same statements as the single process.
    const count = (u: string): string => psql(u, 'SELECT count(*) FROM vex.statements').trim();
    expect(count(url)).toBe(count(refUrl));
  }, 300_000);

  it('backfill --workers 2 rides out a restart too: it completes with the single-process report', async () => {
    const seed = { seed: 8, count: 4000, brokenRatio: 0.02 };
    const [refUrl, url] = [await database('restart_workers_ref'), await database('restart_workers')];
    await Promise.all([seedDocuments(refUrl, seed), seedDocuments(url, seed)]);
    const child = spawn(
      process.execPath,
      [
        '--import',
        tsxLoader,
        main,
        'statements',
        'backfill',
        '--run-id',
        'w',
        '--workers',
        '2',
        '--batch-size',
        '50',
        '--range-size',
        '250',
        '--json',
        '--pg',
        url,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let [stdout, stderr] = ['', ''];
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await untilRangesCompleted(url, 'w', 2);
    await server.crash();
    await new Promise((r) => setTimeout(r, 1500));
    await server.restart();
    // The uninterrupted single-process run, on its own database, while the workers finish.
    const clean = jsonOf(
      await cli(['statements', 'backfill', '--run-id', 'one', '--batch-size', '50', '--json'], { env: { PGURI: refUrl } }),
    );
    expect(await exited, stderr).toBe(4); // completed, with the seed's broken documents as failures (as the single process)
    expect(stderr).toMatch(/the database is unreachable; waiting for it/);
    // The last progress line shows the end, with no range still listed as failing.
    const lastProgress = stderr.split('\n').filter((line) => line.includes('(done in '));
    expect(lastProgress).toHaveLength(1);
    expect(lastProgress[0]).toMatch(/^backfill: 4,000\/4,000 docs .*workers \d+ \(done in /);
    const r = JSON.parse(stdout) as { report: { summary: { reportSha256: string } } };
    expect(r.report.summary.reportSha256).toBe(clean.report.reportSha256);
  }, 300_000);

  it('a worker started while the database is down waits for it, then works the run to completion', async () => {
    const url = await database('down_at_start');
    await seedDocuments(url, { seed: 9, count: 600, brokenRatio: 0 });
    expect((await cli(['statements', 'plan', '--run-id', 'late', '--batch-size', '50', '--range-size', '200', '--pg', url])).code).toBe(0);
    await server.crash();
    let exited = false;
    const running = worker(url, '--reconnect-seconds', '60').then((e) => {
      exited = true;
      return e;
    });
    await new Promise((r) => setTimeout(r, 3000));
    const waitedForIt = !exited;
    await server.restart();
    const exit = await running;
    expect(waitedForIt, `the worker exited while the database was down: ${exit.stderr}`).toBe(true);
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toMatch(/the database is unreachable; waiting for it/);
    expect(exit.stderr).toMatch(/the database is reachable again/);
    const r = jsonOf(await cli(['statements', 'report', '--run-id', 'late', '--json', '--pg', url]));
    expect(r.report?.state).toBe('completed');
    expect(r.report.summary.backfilled).toBe(600);
  }, 300_000);

  it('an outage longer than --reconnect-seconds ends the worker with DB_CONNECTION (exit 6), not DB_ERROR', async () => {
    const url = await database('restart_long');
    await seedDocuments(url, { seed: 6, count: 3000, brokenRatio: 0 });
    expect((await cli(['statements', 'plan', '--run-id', 'long', '--batch-size', '50', '--range-size', '250', '--pg', url])).code).toBe(0);
    const running = worker(url, '--reconnect-seconds', '3');
    await untilRangesCompleted(url, 'long', 1);
    await server.crash();
    const started = Date.now();
    const exit = await running;
    const waited = Date.now() - started;
    await server.restart();
    expect(exit.code, exit.stderr).toBe(6);
    expect(exit.stderr).toMatch(/the database is unreachable; waiting for it/);
    expect(exit.stderr).toMatch(/error DB_CONNECTION: the database was unreachable for 3 s/);
    expect(exit.stderr).not.toMatch(/DB_ERROR/);
    expect(waited, 'waited out the limit before failing').toBeGreaterThanOrEqual(3000);
    // Once it is back, a fresh worker finishes the run from the checkpoints.
    expect((await cli(['statements', 'worker', '--until-done', '--pg', url])).code).toBe(0);
    const r = jsonOf(await cli(['statements', 'report', '--run-id', 'long', '--json', '--pg', url]));
    expect(r.report?.state).toBe('completed');
    expect(r.report.summary.backfilled).toBe(3000);
  }, 300_000);
});
