/**
 * A parent whose name is as long as the naming rule allows (52 bytes, so `_YYYY_MM_DD` still fits in
 * PostgreSQL's 63): the partitions' own index names, which PostgreSQL makes and truncates to 63 bytes,
 * and the `_ccnew` copies of a failed `REINDEX … CONCURRENTLY`, truncated again.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { PartitionManager } from '../../../src/partitions/index.js';
import { createArtifactBomsTable, holdLock, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created), { table: false });

const LONG = 'artifact_boms_with_a_very_long_name_for_the_test_xyz';
const NOW = new Date('2026-11-15T08:00:00Z');
const manager = (lockTimeoutMs = 5000): PartitionManager =>
  new PartitionManager({ pg: db.pool, table: `scanner.${LONG}`, column: 'inserted_at', interval: 'day', now: NOW, lockTimeoutMs });

describe('a parent with a 52-byte name', () => {
  it('gets day partitions under the rule, and a failed concurrent rebuild’s truncated leftovers are dropped', async () => {
    expect(Buffer.byteLength(LONG)).toBe(52);
    await createArtifactBomsTable(db, LONG);
    const r = (await manager().ensure({ behind: 2, ahead: 1 }))._unsafeUnwrap();
    expect(r.created.map((c) => c.name)).toEqual([`${LONG}_2026_11_13`, `${LONG}_2026_11_14`, `${LONG}_2026_11_15`, `${LONG}_2026_11_16`]);
    expect((await manager().list())._unsafeUnwrap().every((p) => p.managed)).toBe(true);
    const part = `${LONG}_2026_11_14`;
    const invalid = async (): Promise<string[]> =>
      (
        await db.query<{ name: string }>(
          'SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1) AND NOT i.indisvalid ORDER BY 1',
          [`scanner.${part}`],
        )
      ).map((r) => r.name);
    const lock = await holdLock(db.url, `scanner.${part}`, 'ROW EXCLUSIVE');
    try {
      const e = (await manager(200).maintain(part, { vacuum: false, analyze: false, reindex: true }))._unsafeUnwrapErr();
      expect(e.code).toBe('LOCK_TIMEOUT');
    } finally {
      await lock.release();
    }
    const leftovers = await invalid();
    expect(leftovers.length).toBeGreaterThan(0);
    const next = (await manager().maintain(part, { vacuum: true, analyze: false }))._unsafeUnwrap();
    expect(next.invalidIndexesDropped).toEqual(leftovers);
    expect(await invalid()).toEqual([]);
  });
});

describe('a window past the years the names can hold', () => {
  it('is refused before anything is created, instead of making partitions named outside the rule', async () => {
    await createArtifactBomsTable(db);
    const m = (now: Date): PartitionManager =>
      new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now });
    const late = (await m(new Date('9999-11-15T00:00:00Z')).ensure({ ahead: 2 }))._unsafeUnwrapErr();
    expect(late.code).toBe('INVALID_ARGUMENT');
    expect(late.message).toContain('10000');
    const early = (await m(new Date('0001-02-15T00:00:00Z')).ensure({ behind: 2 }))._unsafeUnwrapErr();
    expect(early.code).toBe('INVALID_ARGUMENT');
    expect((await m(new Date('2026-11-15T00:00:00Z')).list())._unsafeUnwrap()).toEqual([]);
  });
});

describe('a partition made by hand a fraction of a millisecond off its name’s bounds', () => {
  it('is not managed: retention never drops rows past the cutoff with it', async () => {
    await createArtifactBomsTable(db);
    await db.query(`CREATE TABLE scanner.artifact_boms_2025_01 PARTITION OF scanner.artifact_boms
        FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00.0004+00');
      INSERT INTO scanner.artifact_boms (build_id, canonical_bom_sha256, inserted_at) VALUES ('feb', 'sha', '2025-02-01 00:00:00.0001+00')`);
    const m = new PartitionManager({ pg: db.pool, table: 'scanner.artifact_boms', column: 'inserted_at', now: NOW });
    const [p] = (await m.list())._unsafeUnwrap();
    expect(p?.managed).toBe(false);
    // keep 21 in November 2026: the cutoff is 2025-02-01, and the row just after it must stay.
    const plan = (await m.retention({ keep: 21 }))._unsafeUnwrap();
    expect(plan.candidates).toEqual([]);
  });
});
