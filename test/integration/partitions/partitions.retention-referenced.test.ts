/**
 * Retention of a partitioned table that a foreign key references (PostgreSQL 12 and later): PostgreSQL
 * refuses `DROP TABLE` of any of its partitions, referenced rows or not, while a detach checks the
 * referencing rows and lets an unreferenced partition go.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import type { PartitionManager } from '../../../src/partitions/index.js';
import { artifactBomsManager, catalogBounds, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));

const manager = (): PartitionManager => artifactBomsManager(db, '2026-11-15T08:00:00Z');

/** The tables of the scanner schema, from the catalog. */
const tables = async (): Promise<string[]> =>
  (
    await db.query<{ name: string }>(
      "SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = 'scanner'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
  ).map((r) => r.name);

describe('retention of a table a foreign key references', () => {
  it('drops the expired partitions no row references, and names the rows that keep the one still referenced', async () => {
    // 2025-01 … 2025-03 expired (keep 19 from 2026-11), 2026-11 kept.
    for (const month of ['2025_01', '2025_02', '2025_03', '2026_11']) {
      const [y, m] = month.split('_').map(Number) as [number, number];
      const to = m === 12 ? `${y + 1}-01-01` : `${y}-${String(m + 1).padStart(2, '0')}-01`;
      await db.query(
        `CREATE TABLE scanner.artifact_boms_${month} PARTITION OF scanner.artifact_boms FOR VALUES FROM ('${y}-${String(m).padStart(2, '0')}-01 00:00:00+00') TO ('${to} 00:00:00+00')`,
      );
    }
    await db.query(`
      INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES
        ('jan', 'a', '2025-01-05 00:00:00+00'), ('feb', 'b', '2025-02-05 00:00:00+00'),
        ('mar', 'c', '2025-03-05 00:00:00+00'), ('nov', 'd', '2026-11-05 00:00:00+00');
      CREATE TABLE scanner.findings (id int PRIMARY KEY, build_id text, inserted_at timestamptz,
        FOREIGN KEY (build_id, inserted_at) REFERENCES scanner.artifact_boms);
      INSERT INTO scanner.findings VALUES (1, 'feb', '2025-02-05 00:00:00+00'), (2, 'nov', '2026-11-05 00:00:00+00');`);

    const e = (await manager().retention({ keep: 19, dryRun: false }))._unsafeUnwrapErr();
    expect(e.partial?.candidates.map((c) => [c.name, c.done])).toEqual([
      ['artifact_boms_2025_01', true],
      ['artifact_boms_2025_02', false],
      ['artifact_boms_2025_03', true],
    ]);
    expect([e.code, e.dbCode, e.context.partition]).toEqual(['DB_ERROR', '23503', 'artifact_boms_2025_02']);
    expect(e.message).toContain('scanner.findings');
    expect(e.message).toContain('next retention run drops it');
    // The catalog: the referenced month stays attached with its row, the others are gone, nothing left detached.
    expect(await tables()).toEqual(['artifact_boms', 'artifact_boms_2025_02', 'artifact_boms_2026_11', 'findings']);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()]).toEqual(['artifact_boms_2025_02', 'artifact_boms_2026_11']);
    expect(await db.query('SELECT build_id FROM scanner.artifact_boms ORDER BY 1')).toEqual([{ build_id: 'feb' }, { build_id: 'nov' }]);

    // Once nothing references it, the next run drops it.
    await db.query('DELETE FROM scanner.findings WHERE id = 1');
    const r = (await manager().retention({ keep: 19, dryRun: false }))._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.done])).toEqual([['artifact_boms_2025_02', true]]);
    expect(await tables()).toEqual(['artifact_boms', 'artifact_boms_2026_11', 'findings']);
  });

  it('names the objects that keep a partition PostgreSQL refuses to drop, and what to do about them', async () => {
    await db.query(`
      CREATE TABLE scanner.artifact_boms_2025_01 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00');
      CREATE TABLE scanner.artifact_boms_2025_02 PARTITION OF scanner.artifact_boms FOR VALUES FROM ('2025-02-01 00:00:00+00') TO ('2025-03-01 00:00:00+00');
      CREATE VIEW scanner.january AS SELECT * FROM scanner.artifact_boms_2025_01;`);
    const e = (await manager().retention({ keep: 19, dryRun: false }))._unsafeUnwrapErr();
    expect([e.code, e.dbCode, e.context.partition]).toEqual(['DB_ERROR', '2BP01', 'artifact_boms_2025_01']);
    expect(e.partial?.candidates.map((c) => [c.name, c.done])).toEqual([
      ['artifact_boms_2025_01', false],
      ['artifact_boms_2025_02', true],
    ]);
    expect(e.message).toContain('view scanner.january depends on table scanner.artifact_boms_2025_01');
    expect(e.message).toContain('RENAME TO artifact_boms_2025_01_kept');
    expect(await tables()).toEqual(['artifact_boms', 'artifact_boms_2025_01']);
  });
});
