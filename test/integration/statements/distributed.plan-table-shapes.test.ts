/**
 * A plan table flag that names an existing table of another shape (an
 * application's table, the store's checkpoints table) or the same table as
 * another plan table flag. The planner gave such a runs table the columns
 * later versions added to runs tables (three ALTER TABLEs, committed), then
 * failed with DB_ERROR saying nothing was committed; now it is refused
 * (INVALID_ARGUMENT, exit 2) naming the flag, and the table is left as it was.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli } from '../cli/cli-harness.js';
import { psql, useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 3, count: 120, brokenRatio: 0 }, (created) => (db = created));

/** A table's columns, in order, as the catalog lists them (read by psql). */
const columnsOf = (table: string): string =>
  psql(
    db.url,
    `SELECT string_agg(attname, ' ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '${table}'::regclass AND attnum > 0 AND NOT attisdropped`,
  );

it("a runs table flag naming an application's table is refused and leaves it as it was", async () => {
  await db.query('CREATE TABLE public.orders (id integer PRIMARY KEY, note text)');
  await db.query("INSERT INTO public.orders VALUES (1, 'kept')");
  const plan = await cli(['statements', 'plan', '--run-id', 'z', '--runs-table', 'public.orders'], { env: { PGURI: db.url } });
  expect(plan.code, plan.stderr).toBe(2);
  expect(plan.stderr).toMatch(
    /^error INVALID_ARGUMENT: --runs-table names "public"\."orders", a table that exists and is no runs table of a plan \(it has no column run_id, retrieved_since, force, max_documents, stop_on_error, batch_size, range_size, documents, planned_at\): check the flag/m,
  );
  expect(columnsOf('public.orders')).toBe('id note');
  expect(psql(db.url, 'SELECT id, note FROM public.orders')).toBe('1|kept');
}, 120_000);

it("a runs table flag naming the store's checkpoints table, or one plan table named twice, is refused", async () => {
  const env = { PGURI: db.url };
  const first = await cli(['statements', 'plan', '--run-id', 'good', '--range-size', '50'], { env });
  expect(first.code, first.stderr).toBe(0);
  const checkpoints = columnsOf('vex.statement_backfill_checkpoints');

  const onCheckpoints = await cli(['statements', 'plan', '--run-id', 'z', '--runs-table', 'vex.statement_backfill_checkpoints'], { env });
  expect(onCheckpoints.code, onCheckpoints.stderr).toBe(2);
  expect(onCheckpoints.stderr).toMatch(
    /^error INVALID_ARGUMENT: --runs-table names "vex"\."statement_backfill_checkpoints", a table that exists and is no runs table of a plan \(it has no column stop_on_error, batch_size, range_size, documents, planned_at\)/m,
  );
  expect(columnsOf('vex.statement_backfill_checkpoints')).toBe(checkpoints);

  const twice = await cli(['statements', 'plan', '--run-id', 'z', '--runs-table', 'vex.plans', '--ranges-table', 'vex.plans'], { env });
  expect(twice.code, twice.stderr).toBe(2);
  expect(twice.stderr).toMatch(
    /^error INVALID_ARGUMENT: --ranges-table and --runs-table both name "vex"\."plans": a run's plan needs three tables of its own/m,
  );
  expect(psql(db.url, "SELECT to_regclass('vex.plans') IS NULL")).toBe('t');

  // The run planned with the right tables is untouched by the refusals and replans as the same plan.
  const again = await cli(['statements', 'plan', '--run-id', 'good', '--range-size', '50'], { env });
  expect(again.code, again.stderr).toBe(0);
  expect(psql(db.url, "SELECT count(*) FROM vex.statement_backfill_ranges WHERE run_id = 'good'")).toBe('3');
}, 120_000);
