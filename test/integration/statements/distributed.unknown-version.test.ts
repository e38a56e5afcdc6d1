/**
 * A backfill-kit that cannot tell its own version (its sources copied where
 * the package.json beside them is another package's) records `unknown` in a
 * plan, which no worker of any version works, not even its own: planned
 * anyway, the run's jobs would sit in the shared queue for good, handed
 * back by every worker, and every whole-queue `--until-done` worker of a
 * rolling deploy would end with exit 2 for them. It is refused before
 * anything is stored or enqueued.
 */
import { describe, expect, it, vi } from 'vitest';
import { createTestDatabase } from '../../support/pg.js';
import { psql, seedDocuments } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';

vi.mock('../../../src/_internals/package-json.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../src/_internals/package-json.js')>();
  return { ...actual, kitVersion: () => actual.UNKNOWN_KIT_VERSION, packageJson: () => ({}) };
});

describe('planning with a backfill-kit of unknown version', () => {
  it('is refused with INVALID_ARGUMENT; nothing is stored or enqueued', async () => {
    const db = await createTestDatabase();
    try {
      await seedDocuments(db.url, { seed: 5, count: 40, brokenRatio: 0 });
      const planned = await planBackfill({ connectionString: db.url }, { runId: 'u', batchSize: 10, rangeSize: 20 });
      expect(planned.isErr() && planned.error.code).toBe('INVALID_ARGUMENT');
      expect(planned._unsafeUnwrapErr().message).toMatch(/cannot tell its own version.*Nothing was stored or enqueued/);
      expect(psql(db.url, "SELECT count(*) FROM vex.statement_backfill_runs WHERE run_id = 'u'")).toBe('0');
      expect(psql(db.url, "SELECT count(*) FROM pgboss.job WHERE data->>'runId' = 'u'")).toBe('0');
    } finally {
      await db.drop();
    }
  }, 60_000);
});
