import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { loadBson } from '../../../src/mongodb/bson.js';
import { MongoStagingTarget } from '../../../src/mongodb/mongo-staging-target.js';
import { MongoStatementSink } from '../../../src/mongodb/mongo-statement-sink.js';
import { MongoRawDocumentSource } from '../../../src/mongodb/mongo-raw-document-source.js';
import { MongoCheckpointStore } from '../../../src/mongodb/mongo-checkpoint-store.js';

// Config validation happens before any server is contacted; this stand-in is never written to.
const db = { collection: () => ({}) } as unknown as Db;

describe('new MongoStagingTarget validates its config once and never throws', () => {
  it('accepts a plain config and keeps the collection names', () => {
    const target = new MongoStagingTarget({ db, collections: ['linksets_raw', 'advisory_chunks_raw'] });
    expect(target.collections).toEqual(['linksets_raw', 'advisory_chunks_raw']);
    expect(Object.isFrozen(target)).toBe(true);
    expect(MongoStagingTarget.incomingName('linksets_raw')).toBe('linksets_raw__incoming');
  });

  it.each([
    [{ collections: [] }, '`collections`'],
    [{ collections: ['a', 'a'] }, 'twice'],
    [{ collections: ['bad$name'] }, '`$`'],
    [{ collections: ['system.users'] }, 'system.'],
    [{ collections: [''] }, 'non-empty'],
    [{ collections: ['a'], batchSize: 0 }, 'batchSize'],
    [{ collections: ['a'], batchBytes: -1 }, 'batchBytes'],
    [{ collections: ['a'], insertionWorkers: 0 }, 'insertionWorkers'],
    [{ collections: ['a'], insertionWorkers: 1000 }, 'insertionWorkers'],
    [{ collections: ['a'], maxAttempts: 0 }, 'maxAttempts'],
    [{ collections: ['a'], mode: 'merge' }, 'mode'],
    [{ collections: ['a'], maxBsonObjectSize: 0 }, 'maxBsonObjectSize'],
    [{ collections: ['a'], writeConcern: { w: 0 } }, 'w: 0'],
    [{ collections: ['a'], writeConcern: { w: 1 } }, 'count check'],
    [{ collections: ['a'], stateCollection: '' }, 'stateCollection'],
    [{ collections: ['a'], stateCollection: 'system.js' }, 'stateCollection'],
    [{ collections: ['a'], stateCollection: 'locks$' }, 'stateCollection'],
    [{ collections: ['a', 'b'], stateCollection: 'b' }, 'one of `collections`'],
    [{ collections: ['a'], stateCollection: 'a__incoming' }, 'the staging collection of "a"'],
    [{ collections: ['a'], stateCollection: 'a__dryrun' }, 'the staging collection of "a"'],
    [{ collections: ['backfill_kit_staging'] }, 'stateCollection'],
    [{ collections: ['a', 'a__incoming'] }, 'is the staging collection of "a"'],
    [{ collections: ['a__dryrun', 'a'] }, 'is the staging collection of "a"'],
  ])('rejects %o from every method, before any server round trip (message names %s)', async (partial, word) => {
    const target = new MongoStagingTarget({ db, ...partial } as never);
    const results = [
      await target.begin({ strategy: 'truncate', dryRun: false, tables: ['a'] }),
      await target.counts(),
      await target.truncate(),
      await target.dropLeftovers(),
    ];
    for (const r of results) {
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toContain(word);
    }
    expect(target.collections).toEqual([]);
  });

  it('rejects something that is not a Db, or no config at all, without throwing', async () => {
    expect((await new MongoStagingTarget({ db: {} as Db, collections: ['a'] }).counts())._unsafeUnwrapErr().message).toContain('`db`');
    expect((await new MongoStagingTarget(undefined as never).counts())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });
});

describe('the other adapters: new X(config) never throws, and a bad option is every method’s INVALID_ARGUMENT', () => {
  const broken = [
    [{ db: {} as Db }, '`db`'],
    [{ db: undefined as unknown as Db }, '`db`'],
    [{ db, maxAttempts: 0 }, 'maxAttempts'],
    [{ db, retryDelayMs: -1 }, 'retryDelayMs'],
    [{ db, writeConcern: { w: 0 } }, 'w: 0'],
    [{ db, writeConcern: { w: 1, j: true } }, 'w: 1'],
  ] as const;

  it.each([
    ...broken,
    [{ db, statementsCollection: 'bad$name' }, 'statementsCollection'],
    [{ db, documentsCollection: '' }, 'documentsCollection'],
    [{ db, checkpointsCollection: 'system.x' }, 'checkpointsCollection'],
    [{ db, transactionClaims: 0 }, 'transactionClaims'],
    [{ db, transactionBytes: 0 }, 'transactionBytes'],
    [{ db, documentsCollection: 'statements' }, 'statementsCollection and documentsCollection'],
    [{ db, checkpointsCollection: 'statement_documents' }, 'documentsCollection and checkpointsCollection'],
    [{ db, failuresCollection: 'x', checkpointsCollection: 'x' }, 'checkpointsCollection and failuresCollection'],
  ] as const)('MongoStatementSink %o (names %s)', async (config, word) => {
    const sink = new MongoStatementSink(config);
    const batch = { runId: 'r', force: false, documents: [], failures: [], checkpoint: {} } as never;
    for (const r of [
      await sink.prepare(),
      await sink.usesTransactions(),
      await sink.existingDigests([]),
      await sink.commitBatch(batch),
      await sink.loadCheckpoint('r'),
    ]) {
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toContain(word);
    }
  });

  it.each([...broken, [{ db, collection: 'a$b' }, 'collection']] as const)('MongoRawDocumentSource %o (names %s)', async (config, word) => {
    const source = new MongoRawDocumentSource(config);
    for (const r of [await source.prepare(), await source.append([]), await source.readPage({ limit: 1 }), await source.count({})]) {
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toContain(word);
    }
  });

  it.each([
    ...broken,
    [{ db, failuresCollection: '.x' }, 'failuresCollection'],
    [{ db, failuresCollection: 'statement_backfill_checkpoints' }, 'checkpointsCollection and failuresCollection'],
  ] as const)('MongoCheckpointStore %o (names %s)', async (config, word) => {
    const store = new MongoCheckpointStore(config);
    for (const r of [await store.prepare(), await store.loadCheckpoint('r')]) {
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toContain(word);
    }
  });
});

describe('other config errors come back as values', () => {
  it('an unknown transactions mode is INVALID_ARGUMENT from every call, before any server round trip', async () => {
    const sink = new MongoStatementSink({ db, transactions: 'sometimes' as never });
    expect((await sink.prepare())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await sink.usesTransactions())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });

  it('a bad page query is INVALID_ARGUMENT', async () => {
    const source = new MongoRawDocumentSource({ db });
    expect((await source.readPage({ limit: 0 }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await source.readPage({ limit: 5, after: { retrievedAt: 'yesterday', digest: 'x' } }))._unsafeUnwrapErr().code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await source.append([{ digest: 'd', retrievedAt: 'never', content: '{}' }]))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
  });
});

describe('loadBson', () => {
  it('loads the driver’s BSON library lazily', async () => {
    const bson = (await loadBson())._unsafeUnwrap();
    expect(bson.calculateObjectSize({ a: 1 })).toBe(12);
  });
});

describe('mongodb stays an optional peer', () => {
  it('no source file imports mongodb except as types or through the one dynamic import', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const { fileURLToPath } = await import('node:url');
    const src = fileURLToPath(new URL('../../../src/', import.meta.url));
    const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'));
    const offenders: string[] = [];
    let dynamic = 0;
    for (const f of files) {
      const text = await readFile(`${src}${f}`, 'utf8');
      for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*from\s+['"](mongodb|bson)['"]/gm)) offenders.push(`${f}: ${m[0]}`);
      dynamic += [...text.matchAll(/import\(['"]mongodb['"]\)/g)].length;
    }
    expect(offenders).toEqual([]);
    expect(dynamic).toBe(1);
  });
});
