/**
 * A PartitionManager is built with `new` and never throws: a bad config is
 * resolved once into an error that every method returns, before any
 * connection is made (the connection string below points nowhere).
 */
import { describe, expect, it } from 'vitest';
import { PartitionManager, type PartitionManagerConfig } from '../../../src/partitions/index.js';

const base: PartitionManagerConfig = { pg: 'postgres://nobody@127.0.0.1:1/none', table: 'scanner.artifact_boms', column: 'inserted_at' };

async function everyMethod(m: PartitionManager): Promise<string[]> {
  const codes = [
    m.slotFor(new Date()),
    await m.list(),
    await m.ensure(),
    await m.retention(),
    await m.attach('scanner.artifact_boms_2026_11'),
    await m.maintain('artifact_boms_2026_11'),
    await m.createParent({ columns: [{ name: 'inserted_at', type: 'timestamptz' }] }),
  ].map((r) => (r.isErr() ? r.error.code : 'ok'));
  await m.close();
  return codes;
}

describe('PartitionManager configuration', () => {
  it.each<[string, Partial<PartitionManagerConfig>, string]>([
    ['a table name with a quote', { table: 'scanner.boms"; DROP TABLE x; --' }, 'INVALID_IDENTIFIER'],
    ['an empty column', { column: '' }, 'INVALID_IDENTIFIER'],
    ['an unknown interval', { interval: 'quarter' as 'month' }, 'INVALID_ARGUMENT'],
    ['a table name that leaves no room for the suffix', { table: `scanner.${'b'.repeat(60)}` }, 'INVALID_IDENTIFIER'],
    ['lockTimeoutMs 0', { lockTimeoutMs: 0 }, 'INVALID_ARGUMENT'],
    ['a fractional advisoryLockTimeoutMs', { advisoryLockTimeoutMs: 1.5 }, 'INVALID_ARGUMENT'],
    // PostgreSQL's lock_timeout stops at 2^31 - 1 ms (about 24.8 days).
    ['a lockTimeoutMs past what PostgreSQL takes', { lockTimeoutMs: 2 ** 31 }, 'INVALID_ARGUMENT'],
    ['an advisoryLockTimeoutMs past what PostgreSQL takes', { advisoryLockTimeoutMs: Number.MAX_SAFE_INTEGER }, 'INVALID_ARGUMENT'],
  ])('%s: the constructor does not throw and every method returns %s', async (_name, patch, code) => {
    const m = new PartitionManager({ ...base, ...patch });
    expect(await everyMethod(m)).toEqual(Array(7).fill(code));
  });

  it('no config object at all: still no throw, every method returns INVALID_ARGUMENT', async () => {
    const m = new PartitionManager(undefined as unknown as PartitionManagerConfig);
    expect(await everyMethod(m)).toEqual(Array(7).fill('INVALID_ARGUMENT'));
  });

  it('a valid config computes slots without a database', async () => {
    const m = new PartitionManager({ ...base, interval: 'week' });
    expect(m.slotFor(new Date('2026-11-25T15:00:00Z'))._unsafeUnwrap()).toEqual({
      name: 'artifact_boms_2026_W48',
      from: new Date('2026-11-23T00:00:00Z'),
      to: new Date('2026-11-30T00:00:00Z'),
    });
    await m.close();
  });

  it('refuses bad call options before connecting', async () => {
    const m = new PartitionManager(base);
    const codes = [
      await m.ensure({ ahead: -1 }),
      await m.ensure({ fillGaps: 'yes' as unknown as boolean }),
      await m.retention({ mode: 'truncate' as 'drop' }),
      await m.retention({ dryRun: 'false' as unknown as boolean }),
      await m.maintain('artifact_boms_2026_11', { vacuum: false, analyze: false, reindex: false }),
      await m.attach('scanner.artifact_boms_backup'),
    ].map((r) => r._unsafeUnwrapErr().code);
    expect(codes).toEqual([
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'PARTITION_NAME_INVALID',
    ]);
    await m.close();
  });
});
