/**
 * A parent whose replica identity is FULL or USING INDEX (logical replication of a table without a
 * primary key, or keyed on another unique index): PostgreSQL gives a new partition none of it, and a
 * publication that publishes updates then refuses every UPDATE and DELETE of the partition's rows.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created), { table: false });

const manager = (): PartitionManager =>
  new PartitionManager({
    pg: db.pool,
    table: 'scanner.events',
    column: 'inserted_at',
    interval: 'month',
    now: new Date('2026-11-15T08:00:00Z'),
  });

/** Each table of the scanner schema with its replica identity (`relreplident`), and for USING INDEX the index's parent index. */
const identities = async (): Promise<Record<string, string>> => {
  const rows = await db.query<{ name: string; ident: string }>(
    `SELECT c.relname AS name, c.relreplident::text || coalesce(' ' || (
       SELECT coalesce(pi.inhparent::regclass::text, ix.indexrelid::regclass::text) FROM pg_index ix
       LEFT JOIN pg_inherits pi ON pi.inhrelid = ix.indexrelid
       WHERE ix.indrelid = c.oid AND ix.indisreplident), '') AS ident
     FROM pg_class c WHERE c.relnamespace = 'scanner'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.ident]));
};

describe('new partitions of a parent with a replica identity', () => {
  it('get FULL, and the rows of the new months can be updated and deleted under a publication', async () => {
    await db.query(`
      CREATE SCHEMA scanner;
      CREATE TABLE scanner.events (id int NOT NULL, payload text, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at);
      ALTER TABLE scanner.events REPLICA IDENTITY FULL;
      CREATE PUBLICATION scanner_events FOR TABLE scanner.events;`);
    try {
      const r = (await manager().ensure({ behind: 0, ahead: 1 }))._unsafeUnwrap();
      expect(r.created.map((c) => c.name)).toEqual(['events_2026_11', 'events_2026_12']);
      expect(await identities()).toEqual({ events: 'f', events_2026_11: 'f', events_2026_12: 'f' });
      // PostgreSQL's own check: an UPDATE or DELETE of a published table without a replica identity fails.
      await db.query(`INSERT INTO scanner.events VALUES (1, 'a', '2026-11-20 00:00:00+00'), (2, 'b', '2026-12-20 00:00:00+00')`);
      await db.query(`UPDATE scanner.events SET payload = 'c'`);
      await db.query('DELETE FROM scanner.events WHERE id = 2');
      expect(await db.query('SELECT id, payload FROM scanner.events')).toEqual([{ id: 1, payload: 'c' }]);
    } finally {
      await db.query('DROP PUBLICATION scanner_events');
    }
  });

  it('get USING INDEX on their own copy of the parent’s index, in a batch and beside a default partition holding their rows', async () => {
    await db.query(`
      CREATE SCHEMA scanner;
      CREATE TABLE scanner.events (id int NOT NULL, payload text, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at);
      CREATE UNIQUE INDEX events_ident ON scanner.events (id, inserted_at);
      ALTER TABLE scanner.events REPLICA IDENTITY USING INDEX events_ident;
      CREATE TABLE scanner.events_default PARTITION OF scanner.events DEFAULT;
      -- As its operator set it: PostgreSQL gave it none, and the move out of it deletes there.
      ALTER TABLE scanner.events_default REPLICA IDENTITY USING INDEX events_default_id_inserted_at_idx;
      INSERT INTO scanner.events VALUES (1, 'a', '2026-12-20 00:00:00+00');
      CREATE PUBLICATION scanner_events FOR TABLE scanner.events;`);
    try {
      const r = (await manager().ensure({ behind: 1, ahead: 1 }))._unsafeUnwrap();
      expect(r.created.map((c) => [c.name, c.rowsMovedFromDefault])).toEqual([
        ['events_2026_10', 0],
        ['events_2026_11', 0],
        ['events_2026_12', 1],
      ]);
      const ids = await identities();
      expect(ids).toMatchObject({
        events: 'i scanner.events_ident',
        events_2026_10: 'i scanner.events_ident',
        events_2026_11: 'i scanner.events_ident',
        events_2026_12: 'i scanner.events_ident',
      });
      await db.query(`UPDATE scanner.events SET payload = 'c'`);
      expect(await db.query('SELECT id, payload FROM scanner.events_2026_12')).toEqual([{ id: 1, payload: 'c' }]);
    } finally {
      await db.query('DROP PUBLICATION scanner_events');
    }
  });
});
