/**
 * A worker waits out a database that is unreachable for now (refused or
 * reset connections, a server restarting). What waiting cannot heal fails
 * at once: a `heartbeatSeconds` out of range (INVALID_ARGUMENT naming it,
 * not pg-boss's assertion taken for a lost connection), a `rangeSize` or
 * `maxDocuments` past what the runs and checkpoint tables hold (not a
 * database error once the keyspace was read or a batch normalized), and a
 * database that does not exist.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { backfillSingleProcess, useSeededDatabase } from './helpers.js';
import { cli } from '../cli/cli-harness.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { pgErrorToBackfill } from '../../../src/_internals/pg.js';

let db: TestDatabase;
useSeededDatabase({ seed: 16, count: 5, brokenRatio: 0 }, (created) => (db = created));

/**
 * How long the workers here would wait out an unreachable database: far past
 * the tests' timeout, so one that waited instead of failing at once fails
 * the test without a clock to read.
 */
const WAITING_SECONDS = 3600;

function collectingLogger(): { warnings: string[]; logger: { info(): void; debug(): void; error(): void; warn(m: string): void } } {
  const warnings: string[] = [];
  return {
    warnings,
    logger: { info: () => undefined, debug: () => undefined, error: () => undefined, warn: (m) => void warnings.push(m) },
  };
}

it('heartbeatSeconds out of its range is INVALID_ARGUMENT naming it, at once, not a database outage', async () => {
  const plan = await planBackfill({ connectionString: db.url, heartbeatSeconds: 5 }, { runId: 'hb' });
  const { warnings, logger } = collectingLogger();
  // Waiting out an outage would take an hour: the test's timeout would end it first.
  const worker = await runBackfillWorker(
    { connectionString: db.url, heartbeatSeconds: 5, logger },
    { untilDone: true, reconnectSeconds: WAITING_SECONDS },
  );
  expect({
    plan: plan.isErr() ? plan.error.message : 'planned',
    worker: worker.isErr() ? worker.error.code : 'worked',
    saidDatabaseDown: warnings.some((w) => /unreachable/.test(w)),
  }).toEqual({ plan: 'heartbeatSeconds must be an integer from 10 to 3600, not 5.', worker: 'INVALID_ARGUMENT', saidDatabaseDown: false });
}, 60_000);

it('a rangeSize past integer (2^31) or a maxDocuments past exact counting (1e19) is INVALID_ARGUMENT naming it, in the library and the CLI', async () => {
  const message = (r: { isErr(): boolean; error?: unknown; value?: unknown }): string =>
    r.isErr() ? `${(r.error as { code: string }).code}: ${(r.error as Error).message}` : 'accepted';
  const refused = {
    rangeSize: message(await planBackfill({ connectionString: db.url }, { runId: 'big-range', rangeSize: 2 ** 31 })),
    plannedMax: message(await planBackfill({ connectionString: db.url }, { runId: 'huge-plan', maxDocuments: 1e19 })),
    singleMax: message(await backfillSingleProcess(db.url, { runId: 'huge-max', maxDocuments: 1e19 })),
  };
  expect(refused).toEqual({
    rangeSize: 'INVALID_ARGUMENT: rangeSize must be an integer from 1 to 2147483647; got 2147483648.',
    plannedMax: 'INVALID_ARGUMENT: maxDocuments must be an integer from 1 to 9007199254740991; got 10000000000000000000.',
    singleMax: 'INVALID_ARGUMENT: maxDocuments must be an integer from 1 to 9007199254740991; got 10000000000000000000.',
  });
  // Nothing was planned or checkpointed under those ids.
  expect(await db.query(`SELECT run_id FROM vex.statement_backfill_checkpoints WHERE run_id = 'huge-max'`).catch(() => [])).toEqual([]);
  const flag = await cli(['statements', 'plan', '--run-id', 'big-range', '--range-size', '2147483648'], { env: { PGURI: db.url } });
  expect({ code: flag.code, stderr: flag.stderr }).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('INVALID_ARGUMENT: --range-size must be an integer from 1 to 2147483647, not "2147483648".'),
  });
}, 60_000);

it("the job engine's own assertion on an argument is INVALID_ARGUMENT, not DB_CONNECTION", () => {
  const assertion = Object.assign(new Error('heartbeatSeconds must be an integer >= 10'), { code: 'ERR_ASSERTION' });
  expect(pgErrorToBackfill(assertion, {}, 'job engine (pg-boss)').code).toBe('INVALID_ARGUMENT');
});

it('a worker pointed at a database that does not exist fails at once with DB_CONNECTION naming it, rather than waiting', async () => {
  const url = new URL(db.url);
  url.pathname = `/${db.name}_mistyped`;
  const { warnings, logger } = collectingLogger();
  // Waiting out an outage would take an hour: the test's timeout would end it first.
  const worker = await runBackfillWorker(
    { connectionString: url.toString(), logger },
    { untilDone: true, reconnectSeconds: WAITING_SECONDS },
  );
  expect({
    code: worker.isErr() ? worker.error.code : 'worked',
    namesDatabase: worker.isErr() && worker.error.message.includes(`"${db.name}_mistyped" does not exist`),
    saidWaiting: warnings.some((w) => /unreachable/.test(w)),
  }).toEqual({ code: 'DB_CONNECTION', namesDatabase: true, saidWaiting: false });
}, 60_000);
