/** Shared setup for the statement backfill integration tests. */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller, type StatementBackfillOptions } from '../../../src/statements/statement-backfiller.js';
import { generateVexDocuments, type GenerateVexDocumentsOptions, type GeneratedVexDocument } from '../../../src/testing/vex-documents.js';

/** Generates documents and stores them in `vex.raw_documents` of `url`; returns them. */
export async function seedDocuments(
  url: string,
  options: GenerateVexDocumentsOptions,
  table = 'vex.raw_documents',
): Promise<GeneratedVexDocument[]> {
  const source = new PgRawDocumentSource({ pg: url, table });
  try {
    (await source.prepare())._unsafeUnwrap();
    const docs = [...generateVexDocuments(options)];
    for (let i = 0; i < docs.length; i += 1000) {
      (
        await source.append(docs.slice(i, i + 1000).map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content })))
      )._unsafeUnwrap();
    }
    return docs;
  } finally {
    await source.close();
  }
}

/** What a correct backfill of `docs` (from empty) must report. */
export function expectedCounters(docs: readonly GeneratedVexDocument[]): {
  evaluated: number;
  backfilled: number;
  claimsWritten: number;
  skipped: number;
  failures: number;
} {
  const good = docs.filter((d) => d.kind !== 'broken');
  return {
    evaluated: docs.length,
    backfilled: good.length,
    claimsWritten: good.reduce((n, d) => n + d.expectedClaims, 0),
    skipped: 0,
    failures: docs.length - good.length,
  };
}

/** Runs SQL through the `psql` client (an oracle independent of the `pg` driver). */
export function psql(url: string, sql: string): string {
  return execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  }).trim();
}

/** A sink's four tables, all in `schema`: one schema per run keeps runs of one test apart. */
export function tablesIn(schema: string) {
  return {
    statementsTable: `${schema}.statements`,
    documentsTable: `${schema}.documents`,
    checkpointsTable: `${schema}.checkpoints`,
    failuresTable: `${schema}.failures`,
  };
}

/** Every claim row, ordered, without per-run columns, as one text blob (via psql). */
export function dumpStatements(url: string, table = 'vex.statements'): string {
  return psql(
    url,
    `SELECT document_digest, vulnerability_id, product_key, status, coalesce(justification, '-'), coalesce(statement, '-'), coalesce(to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS'), '-'), format
       FROM ${table} ORDER BY 1, 2, 3`,
  );
}

/** `docs` in the order a backfill evaluates them: `(retrievedAt, digest)`. */
export function inProcessingOrder(docs: readonly GeneratedVexDocument[]): GeneratedVexDocument[] {
  return [...docs].sort(
    (x, y) => x.retrievedAt.getTime() - y.retrievedAt.getTime() || (x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0),
  );
}

/** The config of a distributed run in `url` whose plan store is the runs table `runs` (with its ranges and workers tables beside it). */
export function planStoreConfig(url: string, runs: string) {
  return { connectionString: url, tables: { runs, ranges: `${runs}_ranges`, workers: `${runs}_workers` } };
}

/**
 * Waits until the checkpoints of `runId`'s ranges count at least `atLeast`
 * documents evaluated. It asks through the pool, never a blocking child
 * process: a worker running in this process must keep going meanwhile (a
 * synchronous psql every few ms starved it on a loaded machine).
 */
export async function untilEvaluated(db: TestDatabase, runId: string, atLeast: number): Promise<number> {
  for (;;) {
    const [row] = await db.query<{ n: string }>(
      "SELECT coalesce(sum(evaluated), 0)::text AS n FROM vex.statement_backfill_checkpoints WHERE run_id LIKE $1 || '#%'",
      [runId],
    );
    const evaluated = Number(row!.n);
    if (evaluated >= atLeast) return evaluated;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Creates a database seeded with `options` before the file's tests (handing it to `set`), and drops it after them. */
export function useSeededDatabase(options: GenerateVexDocumentsOptions, set: (db: TestDatabase) => void): void {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    await seedDocuments(db.url, options);
    set(db);
  });
  afterAll(async () => {
    await db?.drop();
  });
}

/** Two test databases holding the same generated documents: one for the uninterrupted run, one for the run that gets killed. */
export interface SeededPair {
  readonly reference: TestDatabase;
  readonly victim: TestDatabase;
  readonly docs: readonly GeneratedVexDocument[];
}

/** Creates and seeds a {@link SeededPair} before the file's tests, and drops both databases after them. */
export function seededPair(options: GenerateVexDocumentsOptions): SeededPair {
  const pair = {} as { reference: TestDatabase; victim: TestDatabase; docs: GeneratedVexDocument[] };
  beforeAll(async () => {
    [pair.reference, pair.victim] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    [pair.docs] = await Promise.all([seedDocuments(pair.reference.url, options), seedDocuments(pair.victim.url, options)]);
  });
  afterAll(async () => {
    await Promise.all([pair.reference?.drop(), pair.victim?.drop()]);
  });
  return pair;
}

/** A single-process backfill of `url`'s default tables with the built-in normalizers, in batches of 50 unless `options` say otherwise. */
export async function backfillSingleProcess(url: string, options: StatementBackfillOptions) {
  const source = new PgRawDocumentSource({ pg: url });
  const sink = new PgStatementSink({ pg: url });
  try {
    return await new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers }).run({ batchSize: 50, ...options });
  } finally {
    await Promise.all([source.close(), sink.close()]);
  }
}

/**
 * A run `start`ed with a throttle that holds it after its first batch until
 * `goOn()`: `run` is its result, `atFirstBatch` resolves once it is held.
 */
export function heldAtFirstBatch<R>(start: (throttle: () => Promise<void>) => PromiseLike<R>) {
  let paused: () => void = () => undefined;
  const atFirstBatch = new Promise<void>((resolve) => (paused = resolve));
  let goOn: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (goOn = resolve));
  let batches = 0;
  const run = Promise.resolve(
    start(async () => {
      batches += 1;
      if (batches !== 1) return;
      paused();
      await gate;
    }),
  );
  return { run, atFirstBatch, goOn: () => goOn() };
}

/** A single-process backfill of `url`'s default tables held after its first batch (see {@link heldAtFirstBatch}). */
export function backfillHeldAtFirstBatch(url: string, runId: string) {
  return heldAtFirstBatch((throttle) => backfillSingleProcess(url, { runId, throttle }));
}

/**
 * Makes in `db` the two ways a digest column compares ignoring case: the
 * ICU collation `public.caseless` (nondeterministic) and the `citext`
 * extension. Returns why either cannot be made on this server, by name
 * (`caseless`, `citext`), for its cases to skip.
 */
export async function caseIgnoringTypes(db: TestDatabase): Promise<ReadonlyMap<string, string>> {
  const missing = new Map<string, string>();
  for (const [column, setup] of [
    ['caseless', `CREATE COLLATION public.caseless (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`],
    ['citext', 'CREATE EXTENSION citext'],
  ] as const) {
    await db.query(setup).catch((error: Error) => missing.set(column, error.message));
  }
  return missing;
}
