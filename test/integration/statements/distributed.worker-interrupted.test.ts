/**
 * `statements worker --until-done` stopped with SIGINT before its run is
 * done exits 130 (ABORTED), as `statements backfill --workers N` does, so
 * `statements worker --until-done && statements report …` does not take an
 * interrupted worker for a finished run.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { psql, useSeededDatabase } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
let db: TestDatabase;
useSeededDatabase({ seed: 9, count: 3000, brokenRatio: 0 }, (created) => (db = created));
beforeAll(async () => {
  (await planBackfill({ connectionString: db.url }, { runId: 'big', batchSize: 10, rangeSize: 100 }))._unsafeUnwrap();
});

it('an interrupted `statements worker --until-done` exits 130 (ABORTED), not 0', async () => {
  const child = spawn(process.execPath, ['--import', tsxLoader, main, 'statements', 'worker', '--until-done', '--run-id', 'big'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PGURI: db.url },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  // Once it has committed some batches of the run, interrupt it.
  for (
    let i = 0;
    i < 400 && psql(db.url, "SELECT count(*) FROM vex.statement_backfill_checkpoints WHERE run_id LIKE 'big#%'") === '0';
    i += 1
  )
    await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  const code = await exited;
  const done = psql(
    db.url,
    "SELECT count(*) FILTER (WHERE completed) || '/' || count(*) FROM vex.statement_backfill_checkpoints WHERE run_id LIKE 'big#%'",
  );
  expect({ code, runDone: done === '30/30' }, stderr).toEqual({ code: 130, runDone: false });
  expect(stderr).toMatch(/ABORTED: worker \S+ was interrupted before run big was done/);
}, 60_000);
