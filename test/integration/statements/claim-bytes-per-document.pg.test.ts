/**
 * One small document whose claims repeat a long statement (an OpenVEX
 * statement giving one long action_statement to each of many products)
 * would write its text once per claim row: `maxBatchBytes` bounds the
 * documents' bytes, not their claims'. Such a document, over
 * `maxClaimBytesPerDocument`, is now recorded as failed with a reason that
 * names the cap, none of its claims is stored, and the run goes on; a
 * planned run records the cap in its plan, so its workers fail the same
 * document and its report hash is the single-process run's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { planAndWork } from '../../../src/statements/distributed-worker.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { cli } from '../cli/cli-harness.js';
import { backfillSingleProcess, psql, seedDocuments } from './helpers.js';

const PRODUCTS = 200;
const NOTE = 20_000;
const CAP = 1_000_000;
const HOSTILE = `sha256:${'f'.repeat(64)}`;

/** An OpenVEX document of about 25 kB whose one statement gives a `NOTE`-long action_statement to each of `PRODUCTS` products. */
const hostile = JSON.stringify({
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://example.com/vex/hostile',
  author: 'a',
  timestamp: '2025-10-01T00:00:00Z',
  version: 1,
  statements: [
    {
      vulnerability: { name: 'CVE-2025-0001' },
      products: Array.from({ length: PRODUCTS }, (_, i) => ({ '@id': `pkg:npm/p${i}@1.0.0` })),
      status: 'affected',
      action_statement: 'u'.repeat(NOTE),
    },
  ],
});

let single: TestDatabase;
let planned: TestDatabase;
let good = 0;
beforeAll(async () => {
  [single, planned] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  for (const db of [single, planned]) {
    good = (await seedDocuments(db.url, { seed: 23, count: 6, brokenRatio: 0 })).length;
    const source = new PgRawDocumentSource({ pg: db.url });
    try {
      (await source.append([{ digest: HOSTILE, retrievedAt: new Date('2025-10-01T00:00:01.5Z'), content: hostile }]))._unsafeUnwrap();
    } finally {
      await source.close();
    }
  }
});
afterAll(async () => {
  await Promise.all([single?.drop(), planned?.drop()]);
});

const failure = `document ${HOSTILE}: its openvex claims hold more than ${CAP} bytes of text (the cap per document, maxClaimBytesPerDocument or --max-claim-bytes)`;

describe('a document whose claims hold more bytes than maxClaimBytesPerDocument', () => {
  it('is recorded as failed with the cap named, writes no claim, and the run goes on', { timeout: 120_000 }, async () => {
    const summary = (
      await backfillSingleProcess(single.url, { runId: 'capped', batchSize: 3, maxClaimBytesPerDocument: CAP })
    )._unsafeUnwrap();
    expect([summary.evaluated, summary.backfilled, summary.failures]).toEqual([good + 1, good, 1]);
    expect(summary.failed).toHaveLength(1);
    expect(summary.failed[0]?.digest).toBe(HOSTILE);
    expect(summary.failed[0]?.code).toBe('DOCUMENT_INVALID');
    expect(summary.failed[0]?.message).toContain(failure);
    expect(psql(single.url, `SELECT count(*) FROM vex.statements WHERE document_digest = '${HOSTILE}'`)).toBe('0');
    expect(psql(single.url, `SELECT count(*) FROM vex.statement_documents WHERE document_digest = '${HOSTILE}'`)).toBe('0');
    expect(psql(single.url, 'SELECT count(*) FROM vex.statements')).toBe(String(summary.claimsWritten));
    expect(psql(single.url, "SELECT completed FROM vex.statement_backfill_checkpoints WHERE run_id = 'capped'")).toBe('t');
    expect(psql(single.url, "SELECT message FROM vex.statement_backfill_failures WHERE run_id = 'capped'")).toContain(failure);

    // A planned run records the cap: its workers fail the same document, and its report is the single-process run's.
    const config = { connectionString: planned.url };
    (
      await planAndWork(config, { runId: 'capped', batchSize: 3, rangeSize: 3, maxClaimBytesPerDocument: CAP }, {}, () => undefined)
    )._unsafeUnwrap();
    expect(psql(planned.url, "SELECT max_claim_bytes FROM vex.statement_backfill_runs WHERE run_id = 'capped'")).toBe(String(CAP));
    const report = (await backfillReport(config, 'capped'))._unsafeUnwrap();
    expect(report.state).toBe('completed');
    expect(report.summary.failed).toEqual(summary.failed);
    expect(report.summary.reportSha256).toBe(summary.reportSha256);
    expect(psql(planned.url, `SELECT count(*) FROM vex.statements WHERE document_digest = '${HOSTILE}'`)).toBe('0');
  });

  it('is refused the same way through --max-claim-bytes of statements backfill and plan', { timeout: 120_000 }, async () => {
    const run = await cli(['statements', 'backfill', '--pg', single.url, '--run-id', 'flag', '--force', '--max-claim-bytes', String(CAP)]);
    expect(run.code, run.stderr.slice(0, 2000)).toBe(4);
    expect(run.stdout).toContain(`evaluated ${good + 1}, backfilled ${good}`);
    expect(psql(single.url, "SELECT digest || ' ' || message FROM vex.statement_backfill_failures WHERE run_id = 'flag'")).toContain(
      `${HOSTILE} ${failure}`,
    );
    expect(psql(single.url, `SELECT count(*) FROM vex.statements WHERE document_digest = '${HOSTILE}'`)).toBe('0');
    // Under --stop-on-error the run stops at it, and the resume it names keeps the cap (the checkpoint does not hold it).
    const stopped = await cli([
      'statements',
      'backfill',
      '--pg',
      single.url,
      '--run-id',
      'stop',
      '--force',
      '--stop-on-error',
      '--max-claim-bytes',
      String(CAP),
    ]);
    expect(stopped.code, stopped.stderr.slice(0, 2000)).not.toBe(0);
    expect(stopped.stdout).toContain(`resume the run: statements backfill --run-id stop --force --max-claim-bytes ${CAP}`);
    const plan = await cli(['statements', 'plan', '--pg', planned.url, '--run-id', 'flag-plan', '--max-claim-bytes', String(CAP)]);
    expect(plan.code, plan.stderr.slice(0, 2000)).toBe(0);
    expect(psql(planned.url, "SELECT max_claim_bytes FROM vex.statement_backfill_runs WHERE run_id = 'flag-plan'")).toBe(String(CAP));
    // A replan with another cap is refused, naming the flag and the planned value.
    const replan = await cli(['statements', 'plan', '--pg', planned.url, '--run-id', 'flag-plan']);
    expect(replan.code).not.toBe(0);
    expect(replan.stderr).toContain(`--max-claim-bytes ${CAP}`);
  });
});
