import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { ok } from 'neverthrow';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { StatementBackfiller, type StatementBackfillOptions } from '../../../src/statements/statement-backfiller.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import type { BackfillSummary } from '../../../src/statements/summary.js';
import type { RawDocumentSource } from '../../../src/statements/ports.js';
import type { GeneratedVexDocument } from '../../../src/testing/vex-documents.js';
import { dumpStatements, expectedCounters, inProcessingOrder, psql, seedDocuments } from './helpers.js';

let db: TestDatabase;
let docs: GeneratedVexDocument[];

/** A backfiller over its own table set (`prefix`_statements …) in the test database. */
function backfiller(
  prefix: string,
  rawTable = 'vex.raw_documents',
  pool: pg.Pool = db.pool,
  source: RawDocumentSource = new PgRawDocumentSource({ pg: pool, table: rawTable }),
): { bf: StatementBackfiller; table: string } {
  const sink = new PgStatementSink({
    pg: pool,
    statementsTable: `${prefix}.statements`,
    documentsTable: `${prefix}.documents`,
    checkpointsTable: `${prefix}.checkpoints`,
    failuresTable: `${prefix}.failures`,
  });
  return {
    bf: new StatementBackfiller({
      source,
      sink,
      normalizers: defaultVexNormalizers,
    }),
    table: `${prefix}.statements`,
  };
}

async function run(bf: StatementBackfiller, options: StatementBackfillOptions = {}): Promise<BackfillSummary> {
  const r = await bf.run(options);
  if (r.isErr()) throw r.error;
  return r.value;
}

beforeAll(async () => {
  db = await createTestDatabase();
  docs = await seedDocuments(db.url, { seed: 4, count: 450, brokenRatio: 0.06 });
});
afterAll(async () => {
  await db.drop();
});

describe('StatementBackfiller over PostgreSQL', () => {
  it('backfills every valid document, records each failure with its digest, and prints the statements runbook sentence', async () => {
    const { bf, table } = backfiller('a');
    const s = await run(bf, { runId: 'first' });
    const want = expectedCounters(docs);
    expect({
      evaluated: s.evaluated,
      backfilled: s.backfilled,
      claimsWritten: s.claimsWritten,
      skipped: s.skipped,
      failures: s.failures,
    }).toEqual(want);
    expect(want.failures).toBeGreaterThan(5);
    expect(s.text).toBe(
      `Backfill completed: evaluated ${want.evaluated}, backfilled ${want.backfilled}, claims written ${want.claimsWritten}, skipped 0, failures ${want.failures}.`,
    );
    // psql, not the driver, counts what landed.
    expect(Number(psql(db.url, `SELECT count(*) FROM ${table}`))).toBe(want.claimsWritten);
    expect(Number(psql(db.url, `SELECT count(DISTINCT document_digest) FROM a.documents`))).toBe(want.backfilled);
    const broken = inProcessingOrder(docs).filter((d) => d.kind === 'broken');
    expect(s.failed.map((f) => [f.digest, f.code])).toEqual(broken.map((d) => [d.digest, d.expectedCode]));
    expect(s.reportSha256).toMatch(/^[0-9a-f]{64}$/);

    // The runbook's rerun: everything that has statements is skipped; failures fail again.
    const again = await run(bf, { runId: 'second' });
    expect(again.text).toBe(
      `Backfill completed: evaluated ${want.evaluated}, backfilled 0, claims written 0, skipped ${want.backfilled}, failures ${want.failures}.`,
    );
    expect(Number(psql(db.url, `SELECT count(*) FROM ${table}`))).toBe(want.claimsWritten);

    // --force replaces each document's claims: same rows, no duplicates, all from the forced run.
    const before = dumpStatements(db.url, table);
    const forced = await run(bf, { runId: 'forced', force: true, batchSize: 64 });
    expect(forced.backfilled).toBe(want.backfilled);
    expect(forced.claimsWritten).toBe(want.claimsWritten);
    expect(dumpStatements(db.url, table)).toBe(before);
    expect(psql(db.url, `SELECT string_agg(DISTINCT run_id, ',') FROM ${table}`)).toBe('forced');
  });

  it('produces the same report hash for the same input and options, whatever the batch size', async () => {
    const a = await run(backfiller('h1').bf, { runId: 'x', batchSize: 7 });
    const b = await run(backfiller('h2').bf, { runId: 'y', batchSize: 500 });
    expect(a.reportSha256).toBe(b.reportSha256);
    expect(dumpStatements(db.url, 'h1.statements')).toBe(dumpStatements(db.url, 'h2.statements'));
    const c = await run(backfiller('h3').bf, { runId: 'z', maxDocuments: 449 });
    expect(c.reportSha256).not.toBe(a.reportSha256);
  });

  it('honours retrievedSince (inclusive), maxDocuments and batchSize, with progress and throttle between batches', async () => {
    const since = docs[150]!.retrievedAt;
    const inWindow = docs.filter((d) => d.retrievedAt.getTime() >= since.getTime());
    const progress: number[] = [];
    const remaining: (number | undefined)[] = [];
    let throttled = 0;
    const s = await run(backfiller('w').bf, {
      retrievedSince: since,
      maxDocuments: 120,
      batchSize: 50,
      onProgress: (p) => {
        progress.push(p.evaluated);
        remaining.push(p.remaining);
      },
      throttle: async () => {
        throttled += 1;
      },
    });
    expect(inWindow.length).toBe(300);
    expect(s.evaluated).toBe(120);
    expect(progress).toEqual([50, 100, 120]);
    expect(remaining).toEqual([70, 20, 0]);
    expect(throttled).toBe(3);
    // The 120 evaluated are the first 120 of the window in (retrievedAt, digest) order.
    const order = inProcessingOrder(inWindow).slice(0, 120);
    const want = expectedCounters(order);
    expect(s.claimsWritten).toBe(want.claimsWritten);
    expect(s.failures).toBe(want.failures);
  });

  it('stopOnError stops at the first broken document, commits what came before, and resumes to the same end state', async () => {
    const { bf, table } = backfiller('s');
    const sorted = inProcessingOrder(docs);
    const firstBroken = sorted.findIndex((d) => d.kind === 'broken');
    const r = await bf.run({ runId: 'stop', stopOnError: true, batchSize: 1000 });
    expect(r.isErr()).toBe(true);
    const error = r._unsafeUnwrapErr();
    expect(error.code).toBe(sorted[firstBroken]!.expectedCode);
    expect(error.context.digest).toBe(sorted[firstBroken]!.digest);
    const partial = error.partial!;
    expect(partial.evaluated).toBe(firstBroken + 1);
    expect(partial.failures).toBe(1);
    expect(Number(psql(db.url, `SELECT count(*) FROM ${table}`))).toBe(expectedCounters(sorted.slice(0, firstBroken)).claimsWritten);

    // The same run, without stopOnError, picks up at the failing document.
    const done = await run(bf, { runId: 'stop' });
    const reference = await run(backfiller('s_ref').bf, { runId: 'ref' });
    expect(done.text).toBe(reference.text);
    expect(done.reportSha256).toBe(reference.reportSha256);
    expect(done.resumed).toBe(true);
    expect(dumpStatements(db.url, table)).toBe(dumpStatements(db.url, 's_ref.statements'));
  });

  it('rolls back a whole batch when the database rejects part of it, and resumes cleanly', async () => {
    const { bf, table } = backfiller('f');
    (
      await new PgStatementSink({
        pg: db.pool,
        statementsTable: 'f.statements',
        documentsTable: 'f.documents',
        checkpointsTable: 'f.checkpoints',
        failuresTable: 'f.failures',
      }).prepare()
    )._unsafeUnwrap();
    const victim = docs.filter((d) => d.kind !== 'broken' && d.expectedClaims > 0)[200]!;
    await db.query(`CREATE FUNCTION f.reject() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.document_digest = '${victim.digest}' THEN RAISE EXCEPTION 'rejected by test trigger'; END IF; RETURN NEW; END $$`);
    await db.query('CREATE TRIGGER reject BEFORE INSERT ON f.statements FOR EACH ROW EXECUTE FUNCTION f.reject()');
    const r = await bf.run({ runId: 'tx', batchSize: 100 });
    expect(r.isErr() && r.error.code).toBe('DB_ERROR');
    const partial = r._unsafeUnwrapErr().partial!;
    // Only whole batches before the failing one are there; none of its claims.
    expect(partial.evaluated % 100).toBe(0);
    expect(Number(psql(db.url, `SELECT count(*) FROM ${table}`))).toBe(partial.claimsWritten);
    expect(Number(psql(db.url, `SELECT evaluated FROM f.checkpoints WHERE run_id = 'tx'`))).toBe(partial.evaluated);
    await db.query('DROP TRIGGER reject ON f.statements');
    const done = await run(bf, { runId: 'tx' });
    expect(done.text).toBe(`Backfill completed: ${expectedSentenceTail(docs)}`);
  });

  it('refuses to resume a run with different options, and stops on abort with the committed part kept', async () => {
    const { bf } = backfiller('o');
    const controller = new AbortController();
    const r = await bf.run({
      runId: 'abort',
      batchSize: 40,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.batches === 2) controller.abort();
      },
    });
    expect(r.isErr() && r.error.code).toBe('ABORTED');
    expect(r._unsafeUnwrapErr().partial?.evaluated).toBe(80);
    const mismatch = await bf.run({ runId: 'abort', force: true });
    expect(mismatch.isErr() && mismatch.error.code).toBe('INVALID_ARGUMENT');
    // Refused before it loaded its checkpoint: this call committed nothing, so there is no partial summary.
    expect(mismatch.isErr() && mismatch.error.partial).toBeUndefined();
    const done = await run(bf, { runId: 'abort' });
    expect(done.text).toBe(`Backfill completed: ${expectedSentenceTail(docs)}`);
  });

  it('running a completed run id again returns its summary and report hash at once, reading nothing, though documents were added since', async () => {
    const raw = new PgRawDocumentSource({ pg: db.pool, table: 'vex.raw_late' });
    (await raw.prepare())._unsafeUnwrap();
    const valid = docs.filter((d) => d.kind !== 'broken');
    (await raw.append(valid.slice(0, 20).map(({ digest, retrievedAt, content }) => ({ digest, retrievedAt, content }))))._unsafeUnwrap();
    let reads = 0;
    const counting: RawDocumentSource = {
      readPage: (query) => {
        reads += 1;
        return raw.readPage(query);
      },
    };
    const { bf } = backfiller('late', undefined, db.pool, counting);
    const first = await run(bf, { runId: 'done', batchSize: 8 });
    expect(first.evaluated).toBe(20);
    // Documents retrieved after the run completed: the raw table keeps growing.
    const added = valid
      .slice(20, 25)
      .map(({ digest, content }, i) => ({ digest, content, retrievedAt: new Date(Date.UTC(2030, 0, 1, 0, 0, i)) }));
    (await raw.append(added))._unsafeUnwrap();
    const shownBefore = reads;
    // What `statements report` advises for a single-process run's id; a batch size is not the run's to keep.
    const shown = await run(bf, { runId: 'done', batchSize: 50 });
    expect({
      text: shown.text,
      reportSha256: shown.reportSha256,
      report: shown.report,
      resumed: shown.resumed,
      reads: reads - shownBefore,
    }).toEqual({
      text: first.text,
      reportSha256: first.reportSha256,
      report: first.report,
      resumed: true,
      reads: 0,
    });
    expect(Number(psql(db.url, `SELECT evaluated FROM late.checkpoints WHERE run_id = 'done'`))).toBe(20);
    expect(Number(psql(db.url, 'SELECT count(*) FROM late.documents'))).toBe(20);
    // The run's own options are still the only ones it takes.
    const forced = await bf.run({ runId: 'done', force: true });
    expect(forced.isErr() && forced.error.code).toBe('INVALID_ARGUMENT');
    // A new run id takes in the documents added since, skipping those with statements.
    const next = await run(bf, { runId: 'next' });
    expect([next.evaluated, next.backfilled, next.skipped]).toEqual([25, 5, 20]);

    // A planned run's key range, completed, is the same: its summary at once, no page read.
    const ten = (await raw.readPage({ limit: 10 }))._unsafeUnwrap();
    const job = {
      checkpointId: 'planned#range-1',
      range: { after: null, through: ten[9]!.cursor, documents: 10 },
      options: { batchSize: 4 },
    };
    const range = backfiller('late_range', undefined, db.pool, counting).bf;
    const ran = (await range.runRange(job))._unsafeUnwrap();
    expect(ran.evaluated).toBe(10);
    const rangeBefore = reads;
    const again = (await range.runRange(job))._unsafeUnwrap();
    expect({ text: again.text, reportSha256: again.reportSha256, resumed: again.resumed, reads: reads - rangeBefore }).toEqual({
      text: ran.text,
      reportSha256: ran.reportSha256,
      resumed: true,
      reads: 0,
    });
  });

  it('a throttle that throws or rejects stops the run with ABORTED, keeping what was committed as the partial summary', async () => {
    const { bf, table } = backfiller('th');
    const throttles = [
      (): Promise<void> => {
        throw new Error('replication lag too high');
      },
      async (): Promise<void> => {
        throw new Error('replica unreachable');
      },
    ];
    for (const [i, throttle] of throttles.entries()) {
      const r = await bf.run({ runId: `throttled-${i}`, batchSize: 30, throttle });
      expect(r.isErr() && r.error.code).toBe('ABORTED');
      expect(r.isErr() && r.error.message).toMatch(/replication lag too high|replica unreachable/);
      // The first batch committed before the throttle was asked.
      expect(r.isErr() && r.error.partial?.evaluated).toBe(30);
      expect(r.isErr() && r.error.partial?.runId).toBe(`throttled-${i}`);
    }
    expect(Number(psql(db.url, `SELECT count(DISTINCT document_digest) FROM ${table}`))).toBeGreaterThan(0);
    const done = await run(bf, { runId: 'throttled-0' });
    expect(done.resumed).toBe(true);
    expect(done.evaluated).toBe(docs.length);
  });

  it('pages by (retrievedAt, digest) without skipping or repeating documents that share a timestamp to the microsecond', async () => {
    await db.query(`CREATE TABLE vex.raw_ties (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, content text NOT NULL)`);
    const sample = docs.filter((d) => d.kind !== 'broken').slice(0, 30);
    // Three documents per microsecond, all within one millisecond.
    await db.query(
      `INSERT INTO vex.raw_ties SELECT d, '2025-10-01T00:00:00Z'::timestamptz + (i / 3) * interval '1 microsecond', c
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(d, c, i)`,
      [sample.map((d) => d.digest), sample.map((d) => d.content)],
    );
    const s = await run(backfiller('t', 'vex.raw_ties').bf, { batchSize: 2 });
    expect(s.evaluated).toBe(30);
    expect(s.backfilled).toBe(30);
    expect(s.skipped).toBe(0);
  });

  it('rejects bad options and unsafe table names without touching the database', async () => {
    const { bf } = backfiller('v');
    for (const options of [
      { batchSize: 0 },
      { batchSize: 1.5 },
      { batchSize: 10_001 },
      { maxDocuments: -1 },
      // Past bigint, and past what a number counts exactly: refused before a batch is read, not a DB_ERROR at its commit.
      { maxDocuments: 1e19 },
      { maxDocuments: 2 ** 53 },
      { retrievedSince: new Date('nope') },
      { runId: '' },
    ] as StatementBackfillOptions[]) {
      const r = await bf.run(options);
      const [option] = Object.keys(options);
      expect(r.isErr() && `${r.error.code}: ${r.error.message}`).toMatch(new RegExp(`^INVALID_ARGUMENT: ${option}`));
    }
    const bad = new StatementBackfiller({
      source: new PgRawDocumentSource({ pg: db.pool }),
      sink: new PgStatementSink({ pg: db.pool, statementsTable: 'vex.x; DROP TABLE vex.raw_documents' }),
      normalizers: defaultVexNormalizers,
    });
    const r = await bad.run();
    expect(r.isErr() && r.error.code).toBe('INVALID_IDENTIFIER');
    expect(Number(psql(db.url, 'SELECT count(*) FROM vex.raw_documents'))).toBe(450);
  });

  it('counts a document no normalizer recognises as NO_NORMALIZER', async () => {
    const only = new StatementBackfiller({
      source: new PgRawDocumentSource({ pg: db.pool }),
      sink: new PgStatementSink({
        pg: db.pool,
        statementsTable: 'n.statements',
        documentsTable: 'n.documents',
        checkpointsTable: 'n.checkpoints',
        failuresTable: 'n.failures',
      }),
      normalizers: [],
    });
    const s = await run(only, { maxDocuments: 10 });
    expect(s.failures).toBe(10);
    // Text that is not JSON fails before detection; everything else finds no normalizer.
    const want = inProcessingOrder(docs)
      .slice(0, 10)
      .map((d) => [d.digest, d.broken === 'truncated-json' ? 'DOCUMENT_INVALID' : 'NO_NORMALIZER']);
    expect(s.failed.map((f) => [f.digest, f.code])).toEqual(want);
    expect(want.some(([, code]) => code === 'NO_NORMALIZER')).toBe(true);
  });
});

describe('PgStatementSink edge cases', () => {
  it('stores text with tabs, newlines, backslashes and quotes exactly, and fails (not crashes on) NUL characters', async () => {
    const odd = 'line one\nline\ttwo \\N back\\slash "quoted" \r end';
    const custom = {
      format: 'custom',
      canNormalize: () => true,
      normalize: (_doc: unknown, ctx: { digest: string }) =>
        ok(
          ctx.digest === inProcessingOrder(docs)[1]!.digest
            ? [
                {
                  vulnerabilityId: 'CVE-NUL',
                  productKey: 'pkg:x/nul',
                  status: 'fixed' as const,
                  statement: 'a\u0000b',
                  documentDigest: ctx.digest,
                  format: 'custom',
                },
              ]
            : [
                {
                  vulnerabilityId: 'CVE-ODD',
                  productKey: 'pkg:x/odd',
                  status: 'affected' as const,
                  statement: odd,
                  justification: '\\',
                  documentDigest: ctx.digest,
                  format: 'custom',
                },
              ],
        ),
    };
    const bf = new StatementBackfiller({
      source: new PgRawDocumentSource({ pg: db.pool }),
      sink: new PgStatementSink({
        pg: db.pool,
        statementsTable: 'e.statements',
        documentsTable: 'e.documents',
        checkpointsTable: 'e.checkpoints',
        failuresTable: 'e.failures',
      }),
      normalizers: [custom],
    });
    const s = await run(bf, { maxDocuments: 3 });
    expect(s.failures).toBe(1);
    expect(s.failed[0]?.message).toContain('NUL');
    const rows = await db.query<{ statement: string; justification: string }>('SELECT statement, justification FROM e.statements');
    expect(rows).toEqual([
      { statement: odd, justification: '\\' },
      { statement: odd, justification: '\\' },
    ]);
  });

  it('falls back to INSERT … ON CONFLICT when another writer already stored one of the claims', async () => {
    const { bf, table } = backfiller('r');
    (
      await new PgStatementSink({
        pg: db.pool,
        statementsTable: 'r.statements',
        documentsTable: 'r.documents',
        checkpointsTable: 'r.checkpoints',
        failuresTable: 'r.failures',
      }).prepare()
    )._unsafeUnwrap();
    const reference = await run(backfiller('r_ref').bf, { maxDocuments: 60 });
    // A racing writer inserted one claim of a document this run has not seen as backfilled.
    await db.query(`INSERT INTO ${table} SELECT * FROM r_ref.statements ORDER BY document_digest LIMIT 1`);
    const s = await run(bf, { maxDocuments: 60 });
    expect(s.text).toBe(reference.text);
    expect(dumpStatements(db.url, table)).toBe(dumpStatements(db.url, 'r_ref.statements'));
  });
});

function expectedSentenceTail(all: readonly GeneratedVexDocument[]): string {
  const c = expectedCounters(all);
  return `evaluated ${c.evaluated}, backfilled ${c.backfilled}, claims written ${c.claimsWritten}, skipped 0, failures ${c.failures}.`;
}
