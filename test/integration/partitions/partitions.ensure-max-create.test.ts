/**
 * One `ensure` creates at most `maxCreate` partitions (--max-create): a
 * window in the wrong unit is refused whole, before anything is created,
 * and saying the count and how to raise the cap.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { artifactBomsManager, catalogBounds, createArtifactBomsTable, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created), { table: false });

const names = async (): Promise<string[]> => [...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()];

describe('ensure with more partitions to create than maxCreate', () => {
  it('refuses the whole plan with INVALID_ARGUMENT naming the count and maxCreate, and creates none', async () => {
    await createArtifactBomsTable(db);
    const m = artifactBomsManager(db, '2026-11-23T10:00:00Z');
    const e = (await m.ensure({ behind: 600, ahead: 0 }))._unsafeUnwrapErr();
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(
      /^ensure would create 601 partitions of scanner\.artifact_boms \(behind 600, ahead 0; artifact_boms_1976_11 to artifact_boms_2026_11\), more than maxCreate \(--max-create\) 500, so it created none\./,
    );
    expect(await names()).toEqual([]);
    const few = (await m.ensure({ behind: 3, ahead: 0, maxCreate: 2 }))._unsafeUnwrapErr();
    expect(few.message).toMatch(/would create 4 partitions .* more than maxCreate \(--max-create\) 2/);
    expect(await names()).toEqual([]);
    // Raised, it creates them; only the ones missing count against it.
    expect((await m.ensure({ behind: 3, ahead: 0, maxCreate: 4 }))._unsafeUnwrap().created).toHaveLength(4);
    expect((await m.ensure({ behind: 4, ahead: 1, maxCreate: 2 }))._unsafeUnwrap().created).toHaveLength(2);
    expect((await m.ensure({ maxCreate: 0 }))._unsafeUnwrapErr().message).toMatch(/maxCreate must be at least 1/);
  });

  it('is a usage error (exit 2) on the command line, naming --max-create, which raises it', async () => {
    await createArtifactBomsTable(db);
    const env = { PGURI: db.url };
    const now = ['--now', '2026-11-23T10:00:00Z'];
    const refused = await cli(['partitions', 'ensure', '--ahead', '0', '--behind', '5', '--max-create', '3', ...now, '--json'], { env });
    expect(refused.code).toBe(2);
    expect(jsonOf(refused).error?.message).toMatch(/ensure would create 6 partitions .*--max-create 6/);
    expect(await names()).toEqual([]);
    const raised = await cli(['partitions', 'ensure', '--ahead', '0', '--behind', '5', '--max-create', '6', ...now, '--quiet'], { env });
    expect(raised.code, raised.stderr).toBe(0);
    expect(await names()).toHaveLength(6);
  });
});
