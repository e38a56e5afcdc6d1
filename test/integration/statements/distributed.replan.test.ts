/**
 * A replan must be asked for with the run's options: the ranges were cut by
 * its range size and its batches sized by its batch size, so a replan with
 * other values would be silently ignored.
 */
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../support/pg.js';
import { psql, seedDocuments } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { cli } from '../cli/cli-harness.js';

describe('replanning a distributed run', () => {
  it('refuses another batchSize or rangeSize with INVALID_ARGUMENT naming the option, and keeps the stored plan', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, { seed: 3, count: 600, brokenRatio: 0 });
      const config = { connectionString: db.url };
      (await planBackfill(config, { runId: 'r1', batchSize: 50, rangeSize: 250 }))._unsafeUnwrap();
      const batch = await planBackfill(config, { runId: 'r1', batchSize: 500, rangeSize: 250 });
      expect(batch.isErr() && batch.error.code).toBe('INVALID_ARGUMENT');
      expect(batch.isErr() && batch.error.message).toMatch(/planned with batchSize 50; plan it again with the same batchSize\b/);
      const range = await planBackfill(config, { runId: 'r1', batchSize: 50, rangeSize: 100 });
      expect(range.isErr() && range.error.code).toBe('INVALID_ARGUMENT');
      expect(range.isErr() && range.error.message).toMatch(/planned with rangeSize 250;.*same rangeSize\b/);
      // Defaults count as asked for: a replan without them asks for batch size 100 and range size 1000.
      const both = await planBackfill(config, { runId: 'r1' });
      expect(both.isErr() && both.error.message).toMatch(/batchSize 50, rangeSize 250;.*same batchSize, rangeSize\b/);
      expect(psql(db.url, 'SELECT batch_size, range_size FROM vex.statement_backfill_runs')).toBe('50|250');
      (await planBackfill(config, { runId: 'r1', batchSize: 50, rangeSize: 250 }))._unsafeUnwrap();
    } finally {
      await db.drop();
    }
  }, 60_000);

  it('on the CLI, names what the run was planned with as flags', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, { seed: 3, count: 50, brokenRatio: 0 });
      const planned = ['--batch-size', '50', '--stop-on-error', '--retrieved-since', '2025-10-01T00:00:00Z'];
      const plan = (...flags: string[]) => cli(['statements', 'plan', '--pg', db.url, '--run-id', 'c1', ...flags]);
      expect((await plan(...planned)).code).toBe(0);
      const again = await plan('--batch-size', '500', '--force');
      expect(again.code).toBe(2);
      expect(again.stderr).toContain(
        'run c1 was planned with --retrieved-since 2025-10-01T00:00:00.000Z, no --force, --stop-on-error, --batch-size 50; plan it again with the same, or use a new --run-id.',
      );
      const tables = await plan(...planned, '--raw-table', 'vex.other');
      expect(tables.stderr).toContain('run c1 was planned with --raw-table vex.raw_documents; plan it again with the same');
    } finally {
      await db.drop();
    }
  }, 60_000);
});
