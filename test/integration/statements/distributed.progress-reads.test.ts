/**
 * Where a planned run stands (`backfillProgress`, the progress line that
 * `statements backfill --workers N` reads every 2 s, a worker's checks)
 * needs its ranges' counters, not their failures. Each read used to load
 * every failure the run had recorded, which may be millions of rows, over
 * and over while the workers write. Now only the report reads them: a role
 * that may not read the failures table still reads the progress, and is
 * refused the report.
 */
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { useSeededDatabase } from './helpers.js';
import { backfillProgress } from '../../../src/statements/distributed-progress.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { planAndWork } from '../../../src/statements/distributed-worker.js';

let db: TestDatabase;
useSeededDatabase({ seed: 13, count: 200, brokenRatio: 0.5 }, (created) => (db = created));

it("a run's progress is read without its failures; its report reads them", async () => {
  const config = { connectionString: db.url };
  (await planAndWork(config, { runId: 'reads', rangeSize: 50 }, {}, () => undefined))._unsafeUnwrap();
  const report = (await backfillReport(config, 'reads'))._unsafeUnwrap();
  expect(report.summary.failed.length).toBeGreaterThan(0);

  const role = `progress_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await db.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  try {
    await db.query(`GRANT USAGE ON SCHEMA vex, pgboss TO ${role}`);
    await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA vex, pgboss TO ${role}`);
    await db.query(`REVOKE SELECT ON vex.statement_backfill_failures FROM ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    const reader = { connectionString: url.toString() };

    const progress = (await backfillProgress(reader, 'reads'))._unsafeUnwrap();
    expect(progress).toMatchObject({ state: 'completed', done: 200, total: 200, rangesCompleted: progress.ranges });
    const refused = await backfillReport(reader, 'reads');
    expect(refused._unsafeUnwrapErr().message).toContain('statement_backfill_failures');
  } finally {
    await db.query(`DROP OWNED BY ${role}`);
    await db.query(`DROP ROLE ${role}`);
  }
}, 120_000);
