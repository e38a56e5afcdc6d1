/**
 * A partition that is a foreign table (an old month moved to another
 * server and attached back, so queries through the parent still see it)
 * is never managed, whatever its name: ensure makes no foreign tables, and
 * DROP TABLE refuses one ("is not a table"), so a daily retention run that
 * took one named by the rule failed every day on it, for good. The foreign
 * data wrapper here has no handler: nothing reads through it.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { catalogBounds, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created), { table: false });

const NOW = new Date('2026-11-15T08:00:00Z');
const manager = (): PartitionManager => new PartitionManager({ pg: db.pool, table: 'scanner.events', column: 'at', now: NOW });

async function parentWithForeignMonth(): Promise<void> {
  await db.query(`
    CREATE SCHEMA scanner;
    CREATE TABLE scanner.events (id bigint, at timestamptz NOT NULL, note text) PARTITION BY RANGE (at);
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_foreign_data_wrapper WHERE fdwname = 'bk_no_handler') THEN CREATE FOREIGN DATA WRAPPER bk_no_handler; END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = 'bk_archive') THEN CREATE SERVER bk_archive FOREIGN DATA WRAPPER bk_no_handler; END IF;
    END $$;`);
  (await manager().ensure({ behind: 3, ahead: 1 }))._unsafeUnwrap();
  await db.query(`CREATE FOREIGN TABLE scanner.events_2026_07 PARTITION OF scanner.events
    FOR VALUES FROM ('2026-07-01 00:00:00+00') TO ('2026-08-01 00:00:00+00') SERVER bk_archive`);
}

describe('a foreign table among the partitions', () => {
  it('retention drops the expired tables and leaves the foreign one, saying why, instead of failing on it', async () => {
    await parentWithForeignMonth();
    const result = await manager().retention({ keep: 1, dryRun: false });
    expect(result.isOk(), result.isErr() ? result.error.message : '').toBe(true);
    const report = result._unsafeUnwrap();
    expect(report.candidates.map((c) => [c.name, c.done])).toEqual([
      ['events_2026_08', true],
      ['events_2026_09', true],
    ]);
    expect(report.ignored).toEqual([{ name: 'events_2026_07', reason: expect.stringMatching(/foreign table/) }]);
    expect([...(await catalogBounds(db, 'scanner', 'events')).keys()]).toEqual([
      'events_2026_07',
      'events_2026_10',
      'events_2026_11',
      'events_2026_12',
    ]);
  });

  it('ensure counts it as covering its month and does not make another', async () => {
    await parentWithForeignMonth();
    const report = (await manager().ensure({ behind: 4, ahead: 1 }))._unsafeUnwrap();
    expect(report.created).toEqual([]);
    expect(report.existing.find((e) => e.name === 'events_2026_07')?.coveredBy).toBe('events_2026_07');
  });
});
