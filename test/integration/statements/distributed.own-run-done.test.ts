/**
 * Two tenants share the default runs table, so one queue. Tenant a's run
 * has a range that fails on every attempt (its raw table is gone). A worker
 * for tenant b's run (`backfill --run-id b --workers 2`, or `worker
 * --until-done --run-id b`) ends once b is done, not once the shared queue
 * is empty, which would take a's range's ~8 minutes of retries.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { psql, seedDocuments } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
let db: TestDatabase;

const tenantA = {
  raw: 'a.raw_documents',
  statements: 'a.statements',
  documents: 'a.statement_documents',
  checkpoints: 'a.checkpoints',
  failures: 'a.failures',
};
const bDone = (runId: string): string =>
  psql(
    db.url,
    `SELECT count(*) FILTER (WHERE completed) || '/' || count(*) FROM vex.statement_backfill_checkpoints WHERE run_id LIKE '${runId}#%'`,
  );

beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 17, count: 100, brokenRatio: 0 }); // tenant b: the default tables
  await seedDocuments(db.url, { seed: 18, count: 50, brokenRatio: 0 }, tenantA.raw);
  (await planBackfill({ connectionString: db.url, tables: tenantA }, { runId: 'a', batchSize: 50, rangeSize: 50 }))._unsafeUnwrap();
  await db.query('DROP TABLE a.raw_documents'); // every attempt of a's range now fails
});
afterAll(async () => {
  await db?.drop();
});

it("`statements backfill --workers 2` for one tenant returns once its run is done, whatever another tenant's jobs are doing", async () => {
  const child = spawn(
    process.execPath,
    ['--import', tsxLoader, main, 'statements', 'backfill', '--run-id', 'b', '--workers', '2', '--quiet'],
    {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PGURI: db.url },
      stdio: 'ignore',
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running after 30 s'), 30_000))]);
  if (code === 'still running after 30 s') {
    child.kill('SIGKILL');
    await exited;
  }
  expect({ code, done: bDone('b') }).toEqual({ code: 0, done: '1/1' });
}, 60_000);

it('`worker --until-done --run-id` returns once that run is done, leaving the shared queue to the other runs', async () => {
  (await planBackfill({ connectionString: db.url }, { runId: 'b2', batchSize: 50, rangeSize: 50 }))._unsafeUnwrap();
  const started = Date.now();
  const worker = await runBackfillWorker(
    { connectionString: db.url },
    { untilDone: true, runId: 'b2', signal: AbortSignal.timeout(30_000) },
  );
  expect({ runs: worker._unsafeUnwrap().runs.includes('b2'), done: bDone('b2') }).toEqual({ runs: true, done: '2/2' });
  expect(Date.now() - started).toBeLessThan(25_000);
  // a's range is still being retried: the queue was not empty.
  expect(psql(db.url, "SELECT count(*) FROM pgboss.job WHERE data->>'runId' = 'a' AND state < 'completed'")).toBe('1');
}, 60_000);
