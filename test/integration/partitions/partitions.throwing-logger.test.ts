/**
 * A logger whose sink has failed (a closed or full destination throws on
 * write) is the caller's problem to notice, not a reason to stop the work
 * it is told about. `ensure` logged each partition as it made it: the
 * first line threw, and the partitions after it were never made, so the
 * daily job that keeps partitions ahead of the inserts stopped at one.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { throwingLogger } from '../../support/throwing-logger.js';
import { artifactBomsManager, catalogBounds, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

describe('partitions with a logger that throws', () => {
  it('ensure still creates every partition it plans, and says so in its Result', async () => {
    const m = artifactBomsManager(db, '2026-11-23T10:00:00Z', { logger: throwingLogger() });
    const made = await m.ensure({ behind: 1, ahead: 2 });
    expect(made._unsafeUnwrap().created.map((p) => p.name)).toEqual([
      'artifact_boms_2026_10',
      'artifact_boms_2026_11',
      'artifact_boms_2026_12',
      'artifact_boms_2027_01',
    ]);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()]).toHaveLength(4);
  });

  it('a logger given to one call is treated the same', async () => {
    const m = artifactBomsManager(db, '2026-11-23T10:00:00Z');
    const made = await m.ensure({ behind: 0, ahead: 1, logger: throwingLogger() });
    expect(made._unsafeUnwrap().created).toHaveLength(2);
  });
});
