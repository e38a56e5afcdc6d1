/**
 * A session whose `search_path` names a user schema before `pg_catalog`
 * (`SET search_path = lookalike, pg_catalog`, a role or database default,
 * `options=-csearch_path=…` in the URL) calls that schema's functions for
 * every unqualified name they share with PostgreSQL's own. The library's
 * SQL must call PostgreSQL's own functions whatever the path says: else two
 * processes compute different run-lock keys (two writers on one run), and
 * counts, times and keys come from whatever the schema defines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Result } from 'neverthrow';
import pg from 'pg';
import type { BackfillError } from '../../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/partition-manager.js';
import { PgBackfillPlanStore } from '../../../src/statements/pg-run-plan.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { backfillProgress } from '../../../src/statements/distributed-progress.js';
import { RangeJobQueue, rangeQueueName } from '../../../src/statements/job-queue.js';
import {
  countPendingJobs,
  countPendingJobsByRun,
  releaseClaimedJob,
  selectFailingRangeJobs,
  selectRunHasJobs,
} from '../../../src/statements/sql.js';
import type { GeneratedVexDocument } from '../../../src/testing/vex-documents.js';
import { backfillSingleProcess, expectedCounters, seedDocuments } from './helpers.js';

/** `url` whose sessions search `schema` before `pg_catalog`. */
function searchingFirst(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema},pg_catalog`);
  return u.toString();
}

/**
 * Every function of `pg_catalog` named in `names`, shadowed in `schema` by one
 * with the same arguments that raises: any unqualified call of one fails.
 * Aggregates and window functions get a plain function, which a call with
 * `(*)` or `OVER` refuses just as loudly.
 */
async function plantTraps(db: TestDatabase, schema: string, names: readonly string[]): Promise<void> {
  const overloads = await db.query<{ name: string; args: string; result: string }>(
    `SELECT p.proname AS name, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
            pg_catalog.pg_get_function_result(p.oid) AS result
       FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY($1::text[])
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes) t(oid)
                         WHERE t.oid IN ('internal'::regtype, '"any"'::regtype, 'cstring'::regtype))`,
    [names],
  );
  const planted = new Set<string>();
  for (const o of overloads) {
    const body = `BEGIN RAISE EXCEPTION 'unqualified call of ${o.name}(${o.args})'; END`;
    await db.query(`CREATE FUNCTION ${schema}.${o.name}(${o.args}) RETURNS ${o.result} LANGUAGE plpgsql AS $trap$${body}$trap$`);
    planted.add(o.name);
  }
  expect([...planted].sort()).toEqual([...names].sort());
}

/** The functions the statements and partitions SQL calls by name (syntax such as `extract`, `coalesce` is not looked up). */
const CALLED = [
  'count',
  'current_database',
  'current_setting',
  'hashtext',
  'host',
  'isfinite',
  'length',
  'make_interval',
  'min',
  'now',
  'octet_length',
  'pg_advisory_unlock',
  'pg_advisory_xact_lock',
  'pg_backend_pid',
  'pg_try_advisory_lock',
  'regexp_match',
  'row_number',
  'starts_with',
  'substr',
  'to_char',
  'unnest',
];

/** The types the SQL names that are no keyword (`int`, `bigint`, `numeric`, `timestamp` always mean PostgreSQL's own). */
const NAMED_TYPES = ['date', 'float8', 'jsonb', 'oid', 'regclass', 'regtype', 'text', 'timestamptz', 'uuid'];

/** The value of `result`, or its error thrown (so a failure shows its message). */
function unwrap<T>(result: Result<T, BackfillError>): T {
  if (result.isErr()) throw result.error;
  return result.value;
}

/**
 * The operators the statements and partitions SQL uses (comparisons, `IN`, `ANY`, row comparisons, `CASE x WHEN`,
 * concatenation, patterns, arithmetic, jsonb fields): PostgreSQL looks each up by name in the `search_path`.
 */
const OPERATORS = ['=', '<>', '<', '>', '<=', '>=', '||', '~', '!~', '~~', '!~~', '+', '-', '*', '/', '%', '&', '->', '->>', '@>', '<@'];

/**
 * Every binary operator of `pg_catalog` named in {@link OPERATORS} between
 * ordinary types, shadowed in `schema` by one whose function runs `body`
 * (PL/pgSQL, given the operator as `op` and its operands as `l` and `r`,
 * `ident` naming it): an unqualified use of one runs it instead.
 */
async function shadowOperators(db: TestDatabase, schema: string, body: string): Promise<void> {
  await db.query(`CREATE SCHEMA ${schema}`);
  await db.query(`DO $do$
    DECLARE o record; fn text;
    BEGIN
      FOR o IN SELECT p.oid, p.oprname, p.oprleft::regtype AS l, p.oprright::regtype AS r, p.oprresult::regtype AS res FROM pg_operator p
                WHERE p.oprnamespace = 'pg_catalog'::regnamespace AND p.oprkind = 'b' AND p.oprname = ANY('{${OPERATORS.map((o) => `"${o}"`).join(',')}}'::text[])
                  AND NOT EXISTS (SELECT 1 FROM pg_type t WHERE t.oid IN (p.oprleft, p.oprright, p.oprresult) AND t.typtype = 'p')
      LOOP
        fn := 'op_' || o.oid;
        EXECUTE format('CREATE FUNCTION ${schema}.%I(l %s, r %s) RETURNS %s LANGUAGE plpgsql AS %L', fn, o.l, o.r, o.res,
                       replace(replace($body$${body}$body$, '{op}', o.oprname), '{ident}', format('%s (%s, %s)', o.oprname, o.l, o.r)));
        EXECUTE format('CREATE OPERATOR ${schema}.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = ${schema}.%I)', o.oprname, o.l, o.r, fn);
      END LOOP;
    END $do$`);
}

/** A plan's options and store tables, as a planner saves them. */
const PLAN_OPTIONS = {
  retrievedSince: null,
  force: false,
  maxDocuments: null,
  stopOnError: false,
  batchSize: 50,
  rangeSize: 50,
  maxClaimBytesPerDocument: 1024,
};
const PLAN_TABLES = {
  statements: 'vex.statements',
  documents: 'vex.statement_documents',
  checkpoints: 'vex.statement_backfill_checkpoints',
  failures: 'vex.statement_backfill_failures',
  raw: 'vex.raw_documents',
};

let db: TestDatabase;
let docs: GeneratedVexDocument[];
beforeAll(async () => {
  db = await createTestDatabase();
  docs = await seedDocuments(db.url, { seed: 77, count: 120, brokenRatio: 0.05, startAt: new Date('2025-11-01T00:00:00Z') });
  await db.query('CREATE SCHEMA lookalike');
  // Every text hashes alike: a run's lock key no longer depends on its id or its store.
  await db.query("CREATE FUNCTION lookalike.hashtext(text) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 42'");
  // count(*) that always says one more than there are.
  await db.query("CREATE FUNCTION lookalike.count_step(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1'");
  await db.query("CREATE AGGREGATE lookalike.count(*) (sfunc = lookalike.count_step, stype = bigint, initcond = '1')");
  await db.query('CREATE SCHEMA trap');
  await plantTraps(db, 'trap', CALLED);
  // Types too: a cast to (or a column of) one of these fails.
  for (const type of NAMED_TYPES) await db.query(`CREATE DOMAIN trap.${type} AS pg_catalog.${type} CHECK (false)`);
  // Operators that fail when used.
  await shadowOperators(db, 'optrap', "BEGIN RAISE EXCEPTION '%', 'look-alike operator {ident} was used'; END");
  // Operators that give PostgreSQL's answer, noting who used them (application_name) and in which statement.
  await db.query('CREATE TABLE public.operator_uses (app text, operator text, query text)');
  await shadowOperators(
    db,
    'opspy',
    `BEGIN
       INSERT INTO public.operator_uses VALUES (pg_catalog.current_setting('application_name'), '{ident}', pg_catalog.current_query());
       RETURN l OPERATOR(pg_catalog.{op}) r;
     END`,
  );
});
afterAll(async () => {
  await db?.drop();
});

describe("SQL under a search_path that puts a user's schema before pg_catalog", () => {
  it("a run's lock excludes a second holder whose session searches a look-alike hashtext first", async () => {
    const plain = new PgStatementSink({ pg: db.url });
    const shadowed = new PgStatementSink({ pg: searchingFirst(db.url, 'lookalike') });
    try {
      (await plain.prepare())._unsafeUnwrap();
      const first = (await plain.lockRun('one-run'))._unsafeUnwrap();
      try {
        const second = await shadowed.lockRun('one-run');
        if (second.isOk()) await second.value.release();
        expect(second.isErr() && second.error.code).toBe('LOCKED');
      } finally {
        await first.release();
      }
    } finally {
      await Promise.all([plain.close(), shadowed.close()]);
    }
  });

  it("counts the raw documents with PostgreSQL's count, not a look-alike aggregate", async () => {
    const source = new PgRawDocumentSource({ pg: searchingFirst(db.url, 'lookalike') });
    try {
      expect((await source.count({}))._unsafeUnwrap()).toBe(120);
    } finally {
      await source.close();
    }
  });

  it('backfills, plans and manages partitions without calling any function or naming any type of a schema searched first', async () => {
    const url = searchingFirst(db.url, 'trap');
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    try {
      await expect(probe.query('SELECT now()')).rejects.toThrow(/unqualified call of now/);
      await expect(probe.query("SELECT 'x'::text")).rejects.toThrow(/value for domain text violates/);
    } finally {
      await probe.end();
    }

    const first = (await backfillSingleProcess(url, { runId: 'trapped' }))._unsafeUnwrap();
    expect(first.report.counters).toEqual(expectedCounters(docs));
    const again = (await backfillSingleProcess(url, { runId: 'trapped-again', force: true }))._unsafeUnwrap();
    expect(again.report.counters).toEqual(expectedCounters(docs));

    const source = new PgRawDocumentSource({ pg: url });
    const plans = new PgBackfillPlanStore({ pg: url });
    try {
      const ranges = (await source.keyRanges({ rangeSize: 50 }))._unsafeUnwrap();
      expect(ranges.map((r) => r.documents)).toEqual([50, 50, 20]);
      (await source.refuseRepeatedDigests({}))._unsafeUnwrap();
      (await plans.prepare())._unsafeUnwrap();
      const plan = (await plans.savePlan('planned', PLAN_OPTIONS, PLAN_TABLES, ranges))._unsafeUnwrap();
      expect(plan.documents).toBe(120);
      (await plans.rangeStarted('planned', 1))._unsafeUnwrap();
      expect((await plans.firstStarted('planned'))._unsafeUnwrap()).toBeInstanceOf(Date);
      (await plans.heartbeat('w1', 'host', 1))._unsafeUnwrap();
      expect((await plans.workersAlive(60))._unsafeUnwrap()).toBe(1);
    } finally {
      await Promise.all([source.close(), plans.close()]);
    }

    await db.query('CREATE TABLE public.events (id bigint NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at)');
    const manager = new PartitionManager({
      pg: url,
      table: 'public.events',
      column: 'at',
      interval: 'month',
      now: new Date('2025-02-15T00:00:00Z'),
    });
    try {
      const ensured = await manager.ensure({ behind: 1, ahead: 1 });
      expect(ensured._unsafeUnwrap().created).toHaveLength(3);
      expect((await manager.list())._unsafeUnwrap()).toHaveLength(3);
    } finally {
      await manager.close();
    }
  });

  it('backfills, reads, plans, reports and manages partitions without using any operator of a schema searched first', async () => {
    const url = searchingFirst(db.url, 'optrap');
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    try {
      await expect(probe.query("SELECT 'a'::text = 'b'")).rejects.toThrow('look-alike operator = (text, text) was used');
    } finally {
      await probe.end();
    }

    // A run that writes every claim again (force: an earlier test backfilled them), then one that finds them all done.
    expect(unwrap(await backfillSingleProcess(url, { runId: 'ops', force: true })).report.counters).toEqual(expectedCounters(docs));
    expect(unwrap(await backfillSingleProcess(url, { runId: 'ops-done' })).report.counters).toMatchObject({ backfilled: 0, skipped: 118 });

    const source = new PgRawDocumentSource({ pg: url });
    const sink = new PgStatementSink({ pg: url });
    const plans = new PgBackfillPlanStore({ pg: url });
    try {
      expect(unwrap(await source.count({ retrievedSince: new Date('2025-11-01T00:00:00Z') }))).toBe(120);
      const ranges = unwrap(await source.keyRanges({ rangeSize: 50 }));
      expect(ranges.map((r) => r.documents)).toEqual([50, 50, 20]);
      const middle = ranges[1]!;
      expect(unwrap(await source.readPage({ after: middle.after!, until: middle.through, limit: 500 }))).toHaveLength(50);
      unwrap(await source.refuseRepeatedDigests({}));

      unwrap(await plans.prepare());
      expect(unwrap(await plans.savePlan('ops-planned', PLAN_OPTIONS, PLAN_TABLES, ranges)).documents).toBe(120);
      expect(unwrap(await plans.savePlan('ops-planned', PLAN_OPTIONS, PLAN_TABLES, ranges)).ranges).toHaveLength(3);
      expect(unwrap(await plans.loadPlan('ops-planned'))?.ranges).toHaveLength(3);
      unwrap(await plans.rangeStarted('ops-planned', 2));
      expect(unwrap(await plans.firstStarted('ops-planned'))).toBeInstanceOf(Date);
      unwrap(await plans.setStop('ops-planned', 2, { digest: 'd', code: 'DOCUMENT_INVALID', message: 'm' }));
      expect(unwrap(await plans.firstStop('ops-planned'))).toMatchObject({ n: 2 });
      unwrap(await plans.heartbeat('w1', 'host', 1));
      expect(unwrap(await plans.workersAlive(60))).toBe(1);
      unwrap(await plans.leave('w1'));

      const lock = unwrap(await sink.lockRun('ops-locked'));
      try {
        const second = await new PgStatementSink({ pg: url }).lockRun('ops-locked');
        expect(second.isErr() && second.error.message).toMatch(/pid/);
      } finally {
        await lock.release();
      }
      expect(unwrap(await sink.loadCheckpoints(['ops', 'ops-done'])).size).toBe(2);
    } finally {
      await Promise.all([source.close(), sink.close(), plans.close()]);
    }

    // The job engine's own SQL is pg-boss's: its tables are made on a plain connection; the kit's statements on them are sent here.
    const queue = unwrap(await RangeJobQueue.open({ connectionString: db.url, queue: 'ops' }));
    try {
      unwrap(await queue.enqueue([{ runId: 'ops-queued', n: 1 }]));
      const held = unwrap(await queue.take())!;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const name = rangeQueueName('ops');
        const run = async ({ text, values }: { text: string; values: readonly unknown[] }) => (await client.query(text, [...values])).rows;
        expect(await run(countPendingJobs('pgboss', name, 'ops-queued'))).toEqual([{ n: 1 }]);
        expect(await run(countPendingJobsByRun('pgboss', name))).toEqual([{ runId: 'ops-queued', n: 1 }]);
        expect(await run(selectRunHasJobs('pgboss', name, null))).toEqual([{ found: true }]);
        expect(await run(selectFailingRangeJobs('pgboss', name, 'ops-queued'))).toEqual([]);
        const [job] = await db.query<{ id: string; retry_count: number }>('SELECT id::text, retry_count FROM pgboss.job WHERE name = $1', [
          name,
        ]);
        expect(await run(releaseClaimedJob('pgboss', name, job!.id, job!.retry_count))).toEqual([]);
        expect(await db.query('SELECT state::text FROM pgboss.job WHERE name = $1', [name])).toEqual([{ state: 'created' }]);
      } finally {
        await client.end();
      }
      expect(held.job).toEqual({ runId: 'ops-queued', n: 1 });
    } finally {
      unwrap(await queue.close(false));
    }

    await db.query(`CREATE TABLE public.ops_events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE public.ops_events_default PARTITION OF public.ops_events DEFAULT;
      INSERT INTO public.ops_events VALUES (1, '2025-01-10T00:00:00Z'), (2, '2025-02-10T00:00:00Z'), (3, '2025-03-20T00:00:00Z')`);
    const manager = new PartitionManager({
      pg: url,
      table: 'public.ops_events',
      column: 'at',
      interval: 'month',
      now: new Date('2025-02-15T00:00:00Z'),
    });
    try {
      // The default partition's rows of each new month move into it.
      const ensured = unwrap(await manager.ensure({ behind: 1, ahead: 1 }));
      expect(ensured.created).toHaveLength(3);
      expect(await db.query('SELECT id, tableoid::regclass::text AS home FROM public.ops_events ORDER BY id')).toEqual([
        { id: '1', home: 'ops_events_2025_01' },
        { id: '2', home: 'ops_events_2025_02' },
        { id: '3', home: 'ops_events_2025_03' },
      ]);
      expect(unwrap(await manager.list())).toHaveLength(4);
      const detached = unwrap(await manager.retention({ keep: 0, dryRun: false, mode: 'detach' }));
      expect(detached.candidates.map((c) => [c.name, c.done])).toEqual([['ops_events_2025_01', true]]);
      expect(unwrap(await manager.attach('ops_events_2025_01')).alreadyAttached).toBe(false);
      unwrap(await manager.maintain('ops_events_2025_02', { vacuum: true, analyze: true, reindex: true }));
      const dropped = unwrap(await manager.retention({ keep: 0, dryRun: false }));
      expect(dropped.candidates.map((c) => [c.name, c.done])).toEqual([['ops_events_2025_01', true]]);
      expect(await db.query("SELECT to_regclass('public.ops_events_2025_01') AS t")).toEqual([{ t: null }]);
    } finally {
      await manager.close();
    }
  });

  it('a distributed run (plan, workers, report, progress) uses no look-alike operator outside the job engine', async () => {
    const config = { connectionString: searchingFirst(db.url, 'opspy') };
    const probe = new pg.Client({ connectionString: config.connectionString });
    await probe.connect();
    try {
      expect((await probe.query("SELECT 'a'::text = 'a' AS same")).rows).toEqual([{ same: true }]);
    } finally {
      await probe.end();
    }
    // pg-boss's own SQL looks its operators up in the search_path: installing its tables under this one would put
    // look-alikes in their index predicates. They are made on a plain connection, as an operator would with such a role.
    const queueName = new PgBackfillPlanStore({ pg: db.url }).runsTable;
    unwrap(await unwrap(await RangeJobQueue.open({ connectionString: db.url, queue: queueName })).close());
    await db.query('TRUNCATE public.operator_uses');
    const plan = unwrap(await planBackfill(config, { runId: 'spied', force: true, batchSize: 20, rangeSize: 40 }));
    expect(plan.documents).toBe(120);
    unwrap(await runBackfillWorker(config, { untilDone: true, concurrency: 2 }));
    expect(unwrap(await backfillReport(config, 'spied')).state).toBe('completed');
    expect(unwrap(await backfillProgress(config, 'spied')).state).toBe('completed');
    // pg-boss's own statements (its pool's application_name) are its maintainers' to qualify; the kit's use none.
    const ours = await db.query<{ operator: string; query: string }>(
      "SELECT DISTINCT operator, query FROM public.operator_uses WHERE app <> 'backfill-kit jobs' ORDER BY 1, 2",
    );
    expect(ours).toEqual([]);
  });
});
