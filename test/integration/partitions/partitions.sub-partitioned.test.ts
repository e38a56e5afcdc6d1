/**
 * A managed partition that is itself partitioned (a month split into halves by hand): PostgreSQL
 * keeps its rows and pages in its leaves, and gives the month itself no size and no row estimate.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import type { PartitionManager } from '../../../src/partitions/index.js';
import { artifactBomsManager, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const manager = (): PartitionManager => artifactBomsManager(db, '2026-11-15T08:00:00Z');

describe('a sub-partitioned month', () => {
  it('is sized and counted from its leaves in list and in the retention plan', async () => {
    await db.query(`
      CREATE TABLE scanner.artifact_boms_2025_01 PARTITION OF scanner.artifact_boms
        FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00') PARTITION BY RANGE (inserted_at);
      CREATE TABLE scanner.jan_a PARTITION OF scanner.artifact_boms_2025_01 FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-01-16 00:00:00+00');
      CREATE TABLE scanner.jan_b PARTITION OF scanner.artifact_boms_2025_01 FOR VALUES FROM ('2025-01-16 00:00:00+00') TO ('2025-02-01 00:00:00+00');
      INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at)
        SELECT 'b' || g, md5(g::text), timestamptz '2025-01-01 00:00:00+00' + (g || ' minutes')::interval FROM generate_series(0, 29999) g;
      -- As autovacuum does: it analyzes the leaves, never a partitioned table.
      ANALYZE scanner.jan_a, scanner.jan_b;`);
    // The independent view: each leaf's size and row estimate, added up here.
    const [leaves] = await db.query<{ bytes: string; rows: number }>(
      `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes, sum(c.reltuples)::float8 AS rows
       FROM pg_class c WHERE c.oid IN ('scanner.jan_a'::regclass, 'scanner.jan_b'::regclass)`,
    );
    expect(Number(leaves!.bytes)).toBeGreaterThan(1_000_000);
    expect(leaves!.rows).toBe(30_000);

    const listed = (await manager().list())._unsafeUnwrap().find((p) => p.name === 'artifact_boms_2025_01');
    expect([listed?.managed, listed?.sizeBytes, listed?.estimatedRows]).toEqual([true, Number(leaves!.bytes), 30_000]);

    const plan = (await manager().retention({ keep: 12 }))._unsafeUnwrap();
    expect(plan.candidates.map((c) => [c.name, c.sizeBytes, c.estimatedRows])).toEqual([
      ['artifact_boms_2025_01', Number(leaves!.bytes), 30_000],
    ]);
  });
});
