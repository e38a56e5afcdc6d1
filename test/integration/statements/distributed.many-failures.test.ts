/**
 * The report of a planned run adds up its ranges' failures however many
 * there are: a range may record more failed documents than one function
 * call takes arguments (about 120,000), and the report must list them all,
 * not overflow the stack.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { psql, useSeededDatabase } from './helpers.js';
import { rangeCheckpointId } from '../../../src/statements/distributed-session.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { planAndWork } from '../../../src/statements/distributed-worker.js';

let db: TestDatabase;
useSeededDatabase({ seed: 7, count: 40, brokenRatio: 0.5 }, (created) => (db = created));

it('a range with 150,000 recorded failures: the report lists every one', async () => {
  const config = { connectionString: db.url };
  (await planAndWork(config, { runId: 'many', rangeSize: 1000 }, {}, () => undefined))._unsafeUnwrap();
  const before = (await backfillReport(config, 'many'))._unsafeUnwrap();
  const recorded = before.summary.failed.length;
  expect(recorded).toBeGreaterThan(0);
  // As if the range's documents had failed 150,000 more times: rows after its own in the failures table.
  psql(
    db.url,
    `INSERT INTO vex.statement_backfill_failures (run_id, seq, digest, code, message)
     SELECT '${rangeCheckpointId('many', 1)}', ${recorded} + g, 'sha256:' || lpad(g::text, 64, '0'), 'DOCUMENT_INVALID', 'broken'
       FROM generate_series(1, 150000) AS g`,
  );
  const after = (await backfillReport(config, 'many'))._unsafeUnwrap();
  expect(after.summary.failed).toHaveLength(recorded + 150_000);
  expect(after.summary.failed.at(-1)?.digest).toBe(`sha256:${'150000'.padStart(64, '0')}`);
}, 120_000);
