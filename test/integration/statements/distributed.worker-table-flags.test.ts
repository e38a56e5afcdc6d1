/**
 * A worker backfills into the tables its run was planned with. Table flags
 * of its own that differ from the plan's (a typo) must not leave empty
 * tables behind that nothing will ever use.
 */
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { psql, seedDocuments } from './helpers.js';

describe('statements worker with table flags other than the plan', () => {
  it('works the plan into its tables and creates none of the ones its flags name', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, { seed: 7, count: 120, brokenRatio: 0 });
      const env = { PGURI: db.url };
      const planned = await cli(['statements', 'plan', '--run-id', 'typo', '--range-size', '60'], { env });
      expect(planned.code, planned.stderr).toBe(0);
      const worker = await cli(
        [
          'statements',
          'worker',
          '--until-done',
          '--json',
          '--statements-table',
          'vexx.statements',
          '--documents-table',
          'vexx.documents',
          '--checkpoints-table',
          'vexx.checkpoints',
          '--failures-table',
          'vexx.failures',
        ],
        { env },
      );
      expect(worker.code, worker.stderr).toBe(0);
      expect(jsonOf(worker).report.ranges).toBe(2);
      expect(Number(psql(db.url, 'SELECT count(*) FROM vex.statements'))).toBeGreaterThan(0);
      expect(psql(db.url, "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'vexx'")).toBe('0');
    } finally {
      await db.drop();
    }
  }, 300_000);
});
