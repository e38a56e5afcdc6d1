import { describe, expect, it } from 'vitest';
import { exportDataset, PgStagingTarget, StagingImporter, type StagingImporterConfig } from '../../../src/staging/index.js';

// No database: every one of these must fail before any connection is made
// (the URL points at a port nothing listens on).
const NOWHERE = 'postgres://nobody@127.0.0.1:1/none';

describe('StagingImporter config', () => {
  const hostile = ['lnm_raw"; DROP TABLE x; --', 'a b', '1abc', 'x'.repeat(64), '', 'sch.tab.extra', 'tab"le', 'café'];

  it('refuses hostile schema names with INVALID_IDENTIFIER', async () => {
    for (const schema of hostile) {
      const imp = new StagingImporter({ pg: NOWHERE, schema, tables: { 'linksets.ndjson': 'linksets_raw' } });
      const refused = (await imp.import('x.tar.zst'))._unsafeUnwrapErr();
      expect([refused.code, refused.partial], schema).toEqual(['INVALID_IDENTIFIER', undefined]);
      expect((await imp.counts())._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
      expect((await imp.rollback())._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
    }
  });

  it('refuses hostile table names, for the importer, the target and the export', async () => {
    for (const table of hostile) {
      const importer = new StagingImporter({ pg: NOWHERE, tables: { 'linksets.ndjson': table } });
      expect((await importer.counts())._unsafeUnwrapErr().code, table).toBe('INVALID_IDENTIFIER');
      const target = new PgStagingTarget({ pg: NOWHERE, tables: [table] });
      expect((await target.counts())._unsafeUnwrapErr().code, table).toBe('INVALID_IDENTIFIER');
      expect((await target.truncate())._unsafeUnwrapErr().code, table).toBe('INVALID_IDENTIFIER');
      expect((await target.begin({ strategy: 'swap', dryRun: false, tables: [table] }))._unsafeUnwrapErr().code, table).toBe(
        'INVALID_IDENTIFIER',
      );
      await target.close();
      expect((await exportDataset({ pg: NOWHERE, tables: { 'linksets.ndjson': table } }, 'out.tar.zst'))._unsafeUnwrapErr().code).toBe(
        'INVALID_IDENTIFIER',
      );
    }
  });

  it('refuses empty or duplicate table maps and bad options', async () => {
    const broken: StagingImporterConfig[] = [
      { pg: NOWHERE, tables: {} },
      { pg: NOWHERE, tables: { a: 't', b: 't' } },
      { pg: NOWHERE, tables: { a: 't' }, idField: '' },
      { tables: { a: 't' } },
      { pg: NOWHERE, tables: { a: 't' }, lockTimeoutMs: -1 },
      // lock_timeout 0 means "wait forever" to PostgreSQL (while every later reader queues behind the swap).
      { pg: NOWHERE, tables: { a: 't' }, lockTimeoutMs: 0 },
      { pg: NOWHERE, tables: { a: 't' }, lockTimeoutMs: 0.5 },
      // PostgreSQL's lock_timeout stops at 2^31 - 1 ms.
      { pg: NOWHERE, tables: { a: 't' }, lockTimeoutMs: 2 ** 31 },
      { pg: NOWHERE, tables: { '': 't' } },
      { pg: null as never, tables: { a: 't' } },
    ];
    for (const config of broken) {
      const imp = new StagingImporter(config);
      // Every call returns the config's error, and none connects.
      expect((await imp.import('x.tar.zst'))._unsafeUnwrapErr().code, JSON.stringify(config)).toBe('INVALID_ARGUMENT');
      expect((await imp.counts())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
      expect((await imp.rollback())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
      await imp.close();
    }
    expect((await new PgStagingTarget({ pg: NOWHERE, tables: ['t', 'public.t'], schema: 'public' }).counts())._unsafeUnwrapErr().code).toBe(
      'INVALID_ARGUMENT',
    );
    const imp = new StagingImporter({ pg: NOWHERE, tables: { a: 't' } });
    expect((await imp.import(''))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await imp.import('x', { batchBytes: 0 }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await imp.import('x', { maxDuplicateRetries: -1 }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    // An empty or malformed digest is refused before any work, not after a whole import.
    for (const expectedSha256 of ['', 'abc', `${'0'.repeat(63)}g`]) {
      const refused = (await imp.import('x', { expectedSha256 }))._unsafeUnwrapErr();
      expect([refused.code, refused.message]).toEqual([
        'INVALID_ARGUMENT',
        `expectedSha256 must be 64 hexadecimal digits, got ${JSON.stringify(expectedSha256)}.`,
      ]);
    }
    await imp.close();
  });

  it('is frozen once built, valid or not', () => {
    expect(Object.isFrozen(new StagingImporter({ pg: NOWHERE, tables: { a: 't' } }))).toBe(true);
    expect(Object.isFrozen(new StagingImporter({ pg: NOWHERE, tables: {} }))).toBe(true);
    expect(Object.isFrozen(new PgStagingTarget({ pg: NOWHERE, tables: ['t'] }))).toBe(true);
  });
});
