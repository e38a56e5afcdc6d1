/**
 * The staging port's contract (src/staging/staging-target.ts), run against
 * every implementation: PostgreSQL always, MongoDB when a server is given.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StagingRow, StagingStrategy, StagingTarget } from '../../src/staging/staging-target.js';
import { StagingImporter } from '../../src/staging/staging-importer.js';
import { writeDataset } from '../../src/dataset/write-dataset.js';
import { tempDir } from '../support/tmp.js';

/** One target over two fresh tables, plus oracles that read storage without the target. */
export interface StagingTargetFixture {
  readonly target: StagingTarget;
  /** The two table names the target is configured with. */
  readonly tables: readonly [string, string];
  /** Ids in a table's live storage, sorted, read without the target; [] if it does not exist. */
  liveIds(table: string): Promise<string[]>;
  /** The stored record with id `id`, as plain JSON (extended JSON for BSON types). */
  liveRecord(table: string, id: string): Promise<unknown>;
  /** What identifies the live table itself (PostgreSQL: its OID; MongoDB: its UUID), read without the target; undefined if it does not exist. */
  liveIdentity(table: string): Promise<string | undefined>;
  cleanup(): Promise<void>;
}

async function* batchesOf(rows: readonly StagingRow[], size = 2): AsyncGenerator<StagingRow[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

function rows(ids: readonly string[], extra: Record<string, unknown> = {}): StagingRow[] {
  return ids.map((id) => ({ id, raw: JSON.stringify({ _id: id, ...extra }) }));
}

const OID = '65a1f0c2e4b0a1b2c3d4e5f6';

/**
 * The assertions every {@link StagingTarget} must pass.
 *
 * @param name - shown in the test titles
 * @param make - builds a fresh fixture (own tables) for one test
 */
export function stagingTargetContract(name: string, make: () => Promise<StagingTargetFixture>): void {
  describe(`StagingTarget contract: ${name}`, () => {
    let fx: StagingTargetFixture | undefined;
    const fixture = async (): Promise<StagingTargetFixture> => {
      fx = await make();
      return fx;
    };
    afterEach(async () => {
      await fx?.cleanup();
      fx = undefined;
    });

    /** Commits `ids` into both tables, so there is an "old" content to protect. */
    async function seed(f: StagingTargetFixture, ids: readonly string[]): Promise<void> {
      const s = (await f.target.begin({ strategy: 'swap', dryRun: false, tables: f.tables }))._unsafeUnwrap();
      for (const t of f.tables) expect((await s.load(t, batchesOf(rows(ids))))._unsafeUnwrap()).toBe(ids.length);
      (await s.commit())._unsafeUnwrap();
    }

    for (const strategy of ['truncate', 'swap'] as const satisfies readonly StagingStrategy[]) {
      it(`${strategy}: loads, counts inside the session, and makes both tables visible on commit`, async () => {
        const f = await fixture();
        await seed(f, ['old-1']);
        const [a, b] = f.tables;
        const s = (await f.target.begin({ strategy, dryRun: false, tables: f.tables }))._unsafeUnwrap();
        expect((await s.load(a, batchesOf(rows(['a1', 'a2', 'a3']))))._unsafeUnwrap()).toBe(3);
        expect((await s.load(b, batchesOf(rows(['b1']))))._unsafeUnwrap()).toBe(1);
        expect((await s.count(a))._unsafeUnwrap()).toBe(3);
        expect((await s.count(b))._unsafeUnwrap()).toBe(1);
        const info = (await s.commit())._unsafeUnwrap();
        expect(info.lockHeldMs).toBeGreaterThanOrEqual(0);
        expect(typeof info.lockMode).toBe('string');
        expect(await f.liveIds(a)).toEqual(['a1', 'a2', 'a3']);
        expect(await f.liveIds(b)).toEqual(['b1']);
        expect((await f.target.counts())._unsafeUnwrap()).toEqual({ [a]: 3, [b]: 1 });
      });

      it(`${strategy}: a duplicate id fails the load with DUPLICATE_ID naming the id, and abort keeps the old rows`, async () => {
        const f = await fixture();
        await seed(f, ['old-1', 'old-2']);
        const [a] = f.tables;
        const s = (await f.target.begin({ strategy, dryRun: false, tables: [a] }))._unsafeUnwrap();
        const loaded = await s.load(a, batchesOf(rows(['x', 'dup', 'y', 'dup', 'z']), 3));
        expect(loaded.isErr()).toBe(true);
        expect(loaded._unsafeUnwrapErr().code).toBe('DUPLICATE_ID');
        expect(loaded._unsafeUnwrapErr().context.id).toBe('dup');
        (await s.abort())._unsafeUnwrap();
        (await s.abort())._unsafeUnwrap(); // twice is fine
        expect(await f.liveIds(a)).toEqual(['old-1', 'old-2']);
      });
    }

    for (const strategy of ['truncate', 'swap'] as const satisfies readonly StagingStrategy[]) {
      it(`${strategy}: the next table's load may start before the previous one resolves`, async () => {
        const f = await fixture();
        await seed(f, ['old-1']);
        const [a, b] = f.tables;
        const s = (await f.target.begin({ strategy, dryRun: false, tables: f.tables }))._unsafeUnwrap();
        // As the importer does: once a load has consumed its batches, the next one starts.
        const loads = [s.load(a, batchesOf(rows(['a1', 'a2', 'a3']))), s.load(b, batchesOf(rows(['b1', 'b2'])))];
        expect((await Promise.all(loads)).map((r) => r._unsafeUnwrap())).toEqual([3, 2]);
        (await s.commit())._unsafeUnwrap();
        expect(await f.liveIds(a)).toEqual(['a1', 'a2', 'a3']);
        expect(await f.liveIds(b)).toEqual(['b1', 'b2']);
      });
    }

    it('truncate keeps the live table itself (same identity, new contents); swap puts a new one in its place', async () => {
      const f = await fixture();
      await seed(f, ['old-1', 'old-2']);
      const [a] = f.tables;
      for (const strategy of ['truncate', 'swap'] as const) {
        const before = await f.liveIdentity(a);
        expect(before).toBeDefined();
        const s = (await f.target.begin({ strategy, dryRun: false, tables: [a] }))._unsafeUnwrap();
        (await s.load(a, batchesOf(rows([`${strategy}-1`, `${strategy}-2`, `${strategy}-3`]))))._unsafeUnwrap();
        (await s.commit())._unsafeUnwrap();
        expect(await f.liveIds(a)).toEqual([`${strategy}-1`, `${strategy}-2`, `${strategy}-3`]);
        if (strategy === 'truncate') expect(await f.liveIdentity(a)).toBe(before);
        else expect(await f.liveIdentity(a)).not.toBe(before);
      }
    });

    it('swap: nothing loaded is visible before commit', async () => {
      const f = await fixture();
      await seed(f, ['old-1']);
      const [a] = f.tables;
      const s = (await f.target.begin({ strategy: 'swap', dryRun: false, tables: [a] }))._unsafeUnwrap();
      (await s.load(a, batchesOf(rows(['n1', 'n2']))))._unsafeUnwrap();
      expect(await f.liveIds(a)).toEqual(['old-1']);
      (await s.commit())._unsafeUnwrap();
      expect(await f.liveIds(a)).toEqual(['n1', 'n2']);
    });

    it('abort after a full load leaves the live tables as they were, and the next import can start', async () => {
      const f = await fixture();
      await seed(f, ['old-1']);
      const s = (await f.target.begin({ strategy: 'swap', dryRun: false, tables: f.tables }))._unsafeUnwrap();
      for (const t of f.tables) (await s.load(t, batchesOf(rows(['n1', 'n2']))))._unsafeUnwrap();
      (await s.abort())._unsafeUnwrap();
      for (const t of f.tables) expect(await f.liveIds(t)).toEqual(['old-1']);
      const again = (await f.target.begin({ strategy: 'swap', dryRun: false, tables: f.tables }))._unsafeUnwrap();
      for (const t of f.tables) (await again.load(t, batchesOf(rows(['m1']))))._unsafeUnwrap();
      (await again.commit())._unsafeUnwrap();
      for (const t of f.tables) expect(await f.liveIds(t)).toEqual(['m1']);
    });

    it('a source that throws mid-load fails the load with that error and commits nothing', async () => {
      const f = await fixture();
      await seed(f, ['old-1']);
      const [a] = f.tables;
      const boom = new Error('source broke at batch 2');
      async function* broken(): AsyncGenerator<StagingRow[]> {
        yield rows(['n1', 'n2']);
        throw boom;
      }
      const s = (await f.target.begin({ strategy: 'swap', dryRun: false, tables: [a] }))._unsafeUnwrap();
      const r = await s.load(a, broken());
      expect(r.isErr()).toBe(true);
      expect(r.isErr() && r.error.message).toContain('source broke at batch 2');
      (await s.abort())._unsafeUnwrap();
      expect(await f.liveIds(a)).toEqual(['old-1']);
    });

    it('a dry run loads and counts but never touches the live tables', async () => {
      const f = await fixture();
      await seed(f, ['old-1']);
      const [a] = f.tables;
      const s = (await f.target.begin({ strategy: 'swap', dryRun: true, tables: [a] }))._unsafeUnwrap();
      (await s.load(a, batchesOf(rows(['d1', 'd2', 'd3']))))._unsafeUnwrap();
      expect((await s.count(a))._unsafeUnwrap()).toBe(3);
      expect((await s.commit()).isErr()).toBe(true);
      (await s.abort())._unsafeUnwrap();
      expect(await f.liveIds(a)).toEqual(['old-1']);
    });

    it('truncate() empties every table', async () => {
      const f = await fixture();
      await seed(f, ['old-1', 'old-2']);
      (await f.target.truncate())._unsafeUnwrap();
      const [a, b] = f.tables;
      expect((await f.target.counts())._unsafeUnwrap()).toEqual({ [a]: 0, [b]: 0 });
      expect(await f.liveIds(a)).toEqual([]);
    });

    it('stores each record so that it reads back as the same JSON, {"$oid"} ids included', async () => {
      const f = await fixture();
      const [a] = f.tables;
      const records = [
        { _id: { $oid: OID }, name: 'with object id', n: 7, nested: { list: [1, 'two', null, true] } },
        { _id: 'str-1', text: 'tab\there, newline\nthere, backslash \\ and “unicode” 😀', big: 4294967296 },
        { _id: 42, f: 1.5 },
      ];
      const s = (await f.target.begin({ strategy: 'swap', dryRun: false, tables: [a] }))._unsafeUnwrap();
      const load = records.map((r) => ({ id: typeof r._id === 'object' ? r._id.$oid : String(r._id), raw: JSON.stringify(r) }));
      (await s.load(a, batchesOf(load)))._unsafeUnwrap();
      (await s.commit())._unsafeUnwrap();
      expect(await f.liveIds(a)).toEqual(['42', OID, 'str-1'].sort());
      for (const [i, r] of records.entries()) expect(await f.liveRecord(a, load[i]!.id)).toEqual(r);
    });

    describe('through StagingImporter', () => {
      const dir = tempDir('bk-contract-staging-');

      async function dataset(file: string, members: Record<string, readonly object[]>): Promise<string> {
        const path = join(dir, file);
        (await writeDataset(path, { members }))._unsafeUnwrap();
        return path;
      }

      it.each(['truncate', 'swap'] as const)(
        '%s: imports a dataset, verifies counts against the manifest, and reports what it loaded',
        async (strategy) => {
          const f = await fixture();
          const [a, b] = f.tables;
          const importer = new StagingImporter({ target: f.target, tables: { 'a.ndjson': a, 'b.ndjson': b } });
          const aRecords = Array.from({ length: 250 }, (_, i) => ({ _id: `a-${String(i).padStart(4, '0')}`, v: i }));
          const path = await dataset(`ok-${strategy}-${a}.tar.zst`, { 'a.ndjson': aRecords, 'b.ndjson': [{ _id: { $oid: OID } }] });
          const report = (await importer.import(path, { strategy, batchBytes: 1024 }))._unsafeUnwrap();
          expect(report.committed).toBe(true);
          expect(report.tables.map((t) => [t.table, t.loaded, t.expected, t.ok])).toEqual([
            [a, 250, 250, true],
            [b, 1, 1, true],
          ]);
          expect(await f.liveIds(a)).toEqual(aRecords.map((r) => r._id));
          expect(await f.liveIds(b)).toEqual([OID]);
        },
      );

      it('a duplicate id fails the import with both lines named, and the old contents stay', async () => {
        const f = await fixture();
        await seed(f, ['old-1']);
        const [a, b] = f.tables;
        const importer = new StagingImporter({ target: f.target, tables: { 'a.ndjson': a, 'b.ndjson': b } });
        const path = await dataset(`dup-${a}.tar.zst`, {
          'a.ndjson': [{ _id: 'p' }, { _id: 'q' }, { _id: 'p' }],
          'b.ndjson': [{ _id: 'r' }],
        });
        const r = await importer.import(path, { strategy: 'swap' });
        expect(r.isErr()).toBe(true);
        const e = r._unsafeUnwrapErr();
        expect(e.code).toBe('DUPLICATE_ID');
        expect(e.context).toMatchObject({ member: 'a.ndjson', id: 'p', lines: [1, 3] });
        expect(await f.liveIds(a)).toEqual(['old-1']);
        expect(await f.liveIds(b)).toEqual(['old-1']);
      });
    });
  });
}
