/**
 * The construction contract of the statements classes: `new X(config)`
 * never throws; an invalid config makes every method return its error, and
 * opens no connection (nothing here reaches a database).
 */
import type { ResultAsync } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import type { BackfillError } from '../../../src/errors.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgBackfillPlanStore } from '../../../src/statements/pg-run-plan.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import type { PgSource } from '../../../src/_internals/pg.js';
import type { RawDocumentSource, StatementSink, VexNormalizer } from '../../../src/statements/ports.js';
import { StatementBackfiller, type StatementBackfillerConfig } from '../../../src/statements/statement-backfiller.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';

/** A server no test may reach: an invalid config must fail before it would connect. */
const UNREACHABLE = 'postgres://nobody@127.0.0.1:1/none';
const HOSTILE = 'vex.x; DROP TABLE vex.raw_documents';
const CHECKPOINT = {
  runId: 'r',
  cursor: null,
  counters: { evaluated: 0, backfilled: 0, claimsWritten: 0, skipped: 0, failures: 0 },
  options: { retrievedSince: null, force: false, maxDocuments: null },
  outcomeSha256: '0'.repeat(64),
  completed: false,
};

/** Each call's error code (`undefined` for a success). */
async function codes(calls: readonly ResultAsync<unknown, BackfillError>[]): Promise<(string | undefined)[]> {
  const settled = await Promise.all(calls);
  return settled.map((r) => (r.isErr() ? r.error.code : undefined));
}

describe('PgStatementSink with an invalid config', () => {
  it.each([
    ['a hostile statements table', { pg: UNREACHABLE, statementsTable: HOSTILE }, 'INVALID_IDENTIFIER'],
    ['a schema-qualified name with three parts', { pg: UNREACHABLE, failuresTable: 'a.b.c' }, 'INVALID_IDENTIFIER'],
    ['an over-long checkpoints table', { pg: UNREACHABLE, checkpointsTable: 'x'.repeat(64) }, 'INVALID_IDENTIFIER'],
    ['no pg at all', { pg: undefined as unknown as PgSource }, 'INVALID_ARGUMENT'],
    ['a pg that is not a pool or client', { pg: {} as PgSource }, 'INVALID_ARGUMENT'],
    ['an empty connection string', { pg: '' }, 'INVALID_ARGUMENT'],
  ])('%s: constructs, and every method returns %s', async (_, config, code) => {
    const sink = new PgStatementSink(config);
    const batch = { runId: 'r', force: false, documents: [], failures: [], checkpoint: CHECKPOINT };
    expect(
      await codes([sink.prepare(), sink.existingDigests(['d']), sink.commitBatch(batch), sink.loadCheckpoint('r'), sink.lockRun('r')]),
    ).toEqual([code, code, code, code, code]);
    await expect(sink.close()).resolves.toBeUndefined();
  });
});

describe('PgRawDocumentSource with an invalid config', () => {
  it.each([
    ['a hostile table', { pg: UNREACHABLE, table: HOSTILE }, 'INVALID_IDENTIFIER'],
    ['a pg that is a number', { pg: 5432 as unknown as PgSource }, 'INVALID_ARGUMENT'],
  ])('%s: constructs, and every method returns %s', async (_, config, code) => {
    const source = new PgRawDocumentSource(config);
    expect(
      await codes([
        source.prepare(),
        source.append([{ digest: 'd', retrievedAt: new Date(0), content: '{}' }]),
        source.readPage({ limit: 1 }),
        source.count({}),
        source.keyRanges({ rangeSize: 10 }),
      ]),
    ).toEqual([code, code, code, code, code]);
    await expect(source.close()).resolves.toBeUndefined();
  });
});

describe('PgBackfillPlanStore with an invalid config', () => {
  it('constructs, names no runs table, and every method returns INVALID_IDENTIFIER', async () => {
    const plans = new PgBackfillPlanStore({ pg: UNREACHABLE, tables: { ranges: HOSTILE } });
    expect(plans.runsTable).toBe('');
    const options = {
      retrievedSince: null,
      force: false,
      maxDocuments: null,
      stopOnError: false,
      batchSize: 10,
      rangeSize: 10,
      maxClaimBytesPerDocument: 1024,
    };
    const code = 'INVALID_IDENTIFIER';
    expect(
      await codes([
        plans.prepare(),
        plans.savePlan('r', options, { raw: 'r', statements: 's', documents: 'd', checkpoints: 'c', failures: 'f' }, []),
        plans.loadPlan('r'),
        plans.rangeStarted('r', 1),
        plans.setStop('r', 1, null),
        plans.firstStop('r'),
        plans.firstStarted('r'),
        plans.heartbeat('w', 'h', 1),
        plans.leave('w'),
        plans.workersAlive(15),
      ]),
    ).toEqual(Array(10).fill(code));
    await expect(plans.close()).resolves.toBeUndefined();
  });

  it('a valid config names its runs table (the job queue) quoted', () => {
    expect(new PgBackfillPlanStore({ pg: UNREACHABLE, tables: { runs: 'ops.runs' } }).runsTable).toBe('"ops"."runs"');
  });
});

describe('StatementBackfiller with an invalid config', () => {
  const source: RawDocumentSource = { readPage: () => Promise.reject(new Error('must not be read')) as never };
  const sink = new PgStatementSink({ pg: UNREACHABLE }) as StatementSink;
  const sinkWithoutCommit = { existingDigests: sink.existingDigests.bind(sink), loadCheckpoint: sink.loadCheckpoint.bind(sink) };
  const notANormalizer = { format: 'x', canNormalize: () => true } as unknown as VexNormalizer;

  it.each([
    ['no source', { sink, normalizers: defaultVexNormalizers }, /source must be a RawDocumentSource/],
    ['a sink without commitBatch', { source, sink: sinkWithoutCommit, normalizers: [] }, /sink must be a StatementSink/],
    ['normalizers that are not an array', { source, sink, normalizers: 'openvex' }, /normalizers must be an array/],
    ['a normalizer without normalize()', { source, sink, normalizers: [...defaultVexNormalizers, notANormalizer] }, /normalizers\[3\]/],
  ])('%s: constructs, and run() and runRange() return INVALID_ARGUMENT without a partial summary', async (_, config, message) => {
    const backfiller = new StatementBackfiller(config as unknown as StatementBackfillerConfig);
    const range = { after: null, through: { retrievedAt: '2025-01-01T00:00:00.000000Z', digest: 'd' }, documents: 1 };
    for (const r of [await backfiller.run(), await backfiller.runRange({ checkpointId: 'p#range-1', range, options: {} })]) {
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toMatch(message);
      expect(r.isErr() && r.error.partial).toBeUndefined();
    }
  });
});
