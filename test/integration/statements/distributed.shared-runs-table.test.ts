/**
 * Two planned runs over two separate stores (raw, statements, documents,
 * checkpoints and failures tables of tenant a and of tenant b) in one
 * database, sharing the default runs table and so one pg-boss queue. The
 * plan records its store's tables and is authoritative: whichever worker
 * takes a job backfills that range in the tables its run was planned
 * against, and `report` reads them, whatever table flags the worker or
 * report was given.
 */
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../support/pg.js';
import { cli, jsonOf, type CliRun } from '../cli/cli-harness.js';
import { psql, seedDocuments } from './helpers.js';

const tables = (t: string): string[] =>
  ['raw', 'statements', 'documents', 'checkpoints', 'failures'].flatMap((k) => [`--${k}-table`, `${t}.${k}`]);

describe('two stores, one default runs table', () => {
  it("every range is backfilled in its own plan's tables; each tenant reports as a single process over its store", async () => {
    const [db, reference] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      await Promise.all(
        [db, reference].map(async (d) => {
          await d.query('CREATE SCHEMA a; CREATE SCHEMA b');
          await seedDocuments(d.url, { seed: 1, count: 400, brokenRatio: 0.05 }, 'a.raw');
          await seedDocuments(d.url, { seed: 2, count: 300, brokenRatio: 0.05 }, 'b.raw');
        }),
      );
      // What a single process reports over each store (on the reference database, while the runs below work theirs).
      const singleRuns = (async () => {
        const runs: Record<string, CliRun> = {};
        for (const t of ['a', 'b']) {
          runs[t] = await cli(['statements', 'backfill', '--run-id', `tenant-${t}`, '--json', ...tables(t)], {
            env: { PGURI: reference.url },
          });
        }
        return runs;
      })();
      const env = { PGURI: db.url };
      // b is planned first, so its jobs are first in the queue.
      expect((await cli(['statements', 'plan', '--run-id', 'tenant-b', '--range-size', '100', ...tables('b')], { env })).code).toBe(0);
      expect((await cli(['statements', 'plan', '--run-id', 'tenant-a', '--range-size', '100', ...tables('a')], { env })).code).toBe(0);
      // A replan against another store is refused, naming the tables that differ.
      const moved = await cli(['statements', 'plan', '--run-id', 'tenant-a', '--range-size', '100', ...tables('b')], { env });
      expect(moved.code).toBe(2);
      expect(moved.stderr).toContain(
        'INVALID_ARGUMENT: run tenant-a was planned with --raw-table a.raw, --statements-table a.statements, --documents-table a.documents, --checkpoints-table a.checkpoints, --failures-table a.failures; plan it again with the same',
      );
      // Two worker processes at once: one given tenant a's table flags, one given none (the default store's).
      const workers = await Promise.all([
        cli(['statements', 'worker', '--until-done', '--json', ...tables('a')], { env }),
        cli(['statements', 'worker', '--until-done', '--json'], { env }),
      ]);
      for (const w of workers) expect(w.code, w.stderr).toBe(0);
      expect(workers.reduce((n, w) => n + jsonOf(w).report.ranges, 0)).toBe(7);

      const single: Record<string, { text: string; reportSha256: string }> = {};
      for (const [t, run] of Object.entries(await singleRuns)) {
        expect(run.code, run.stderr).toBe(4);
        single[t] = jsonOf(run).report;
      }
      for (const t of ['a', 'b']) {
        const other = t === 'a' ? 'b' : 'a';
        // Each run's ranges were checkpointed in its own store only; nothing landed in the default store.
        expect(psql(db.url, `SELECT count(*) FROM ${t}.checkpoints WHERE run_id LIKE 'tenant-${other}#%'`)).toBe('0');
        expect(psql(db.url, `SELECT count(*) FROM ${t}.checkpoints WHERE run_id LIKE 'tenant-${t}#%' AND completed`)).not.toBe('0');
        const claims = `SELECT count(*) FROM ${t}.statements`;
        expect(psql(db.url, claims)).toBe(psql(reference.url, claims));
        // The report reads the plan's tables: with the tenant's flags, or with none.
        for (const flags of [tables(t), []]) {
          const report = await cli(['statements', 'report', '--run-id', `tenant-${t}`, '--json', ...flags], { env });
          expect(report.code, report.stderr).toBe(4);
          const { summary } = jsonOf(report).report;
          expect(summary.text).toBe(single[t]!.text);
          expect(summary.reportSha256).toBe(single[t]!.reportSha256);
        }
      }
      // The worker given no flags backfilled into the tenants' tables and created none of the default ones.
      expect(psql(db.url, "SELECT to_regclass('vex.statements') IS NULL")).toBe('t');
      // A plan stored before plans named their tables (NULL) is reported from the reader's own tables.
      psql(db.url, "UPDATE vex.statement_backfill_runs SET store_tables = NULL WHERE run_id = 'tenant-b'");
      const legacy = jsonOf(await cli(['statements', 'report', '--run-id', 'tenant-b', '--json', ...tables('b')], { env }));
      expect(legacy.report.summary.reportSha256).toBe(single['b']!.reportSha256);
      const elsewhere = await cli(['statements', 'report', '--run-id', 'tenant-b', '--json'], { env });
      // Its own tables here are the defaults, which no worker created: nothing to report from.
      expect(elsewhere.code, elsewhere.stdout).toBe(6);
      expect(jsonOf(elsewhere).error?.code).toBe('TABLE_NOT_FOUND');
    } finally {
      await Promise.all([db.drop(), reference.drop()]);
    }
  }, 180_000);
});
