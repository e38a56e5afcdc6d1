/**
 * A `--failures-table` naming an existing table of another shape (a typo
 * naming an application's table). The plan was stored and its jobs
 * enqueued; every range holding a failing document then failed its
 * commit on each of the engine's retries, and a single-process run
 * committed its batches up to the first failing document and failed there.
 * Now the planner refuses it (`INVALID_ARGUMENT`, exit 2) naming the flag,
 * storing and enqueueing nothing, and so does a single-process run before
 * it reads a document.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli } from '../cli/cli-harness.js';
import { psql, useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 29, count: 200, brokenRatio: 0.1 }, (created) => (db = created));

const refusal =
  /^error INVALID_ARGUMENT: "public"\."orders" has no column run_id, seq, digest, code, message: a failures table has \(run_id text, seq bigint, digest text, code text, message text\), so this is another table\. Check --failures-table/m;

it("a failures table flag naming an application's table is refused by the planner and a single-process run alike", async () => {
  const env = { PGURI: db.url };
  await db.query('CREATE TABLE public.orders (id integer PRIMARY KEY, note text)');

  const plan = await cli(['statements', 'plan', '--run-id', 'f', '--range-size', '50', '--failures-table', 'public.orders'], { env });
  expect(plan.code, plan.stdout + plan.stderr).toBe(2);
  expect(plan.stderr).toMatch(refusal);
  expect(psql(db.url, "SELECT to_regclass('vex.statement_backfill_runs') IS NULL")).toBe('t');
  expect(psql(db.url, "SELECT to_regclass('pgboss.job') IS NULL OR NOT EXISTS (SELECT 1 FROM pgboss.job WHERE data->>'runId' = 'f')")).toBe(
    't',
  );

  const single = await cli(['statements', 'backfill', '--run-id', 's', '--failures-table', 'public.orders'], { env });
  expect(single.code, single.stdout + single.stderr).toBe(2);
  expect(single.stderr).toMatch(refusal);
  expect(psql(db.url, "SELECT to_regclass('vex.statement_backfill_checkpoints') IS NULL")).toBe('t');
  expect(psql(db.url, 'SELECT count(*) FROM public.orders')).toBe('0');
}, 120_000);
