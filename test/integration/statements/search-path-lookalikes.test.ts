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
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/partition-manager.js';
import { PgBackfillPlanStore } from '../../../src/statements/pg-run-plan.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
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
      const options = { retrievedSince: null, force: false, maxDocuments: null, stopOnError: false, batchSize: 50, rangeSize: 50 };
      const tables = {
        statements: 'vex.statements',
        documents: 'vex.statement_documents',
        checkpoints: 'vex.statement_backfill_checkpoints',
        failures: 'vex.statement_backfill_failures',
        raw: 'vex.raw_documents',
      };
      const plan = (await plans.savePlan('planned', options, tables, ranges))._unsafeUnwrap();
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
});
