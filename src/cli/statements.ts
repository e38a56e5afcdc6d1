/**
 * `backfill-kit statements backfill` (seed 004): `stellaops excititor
 * backfill-statements`, resumable, against PostgreSQL.
 *
 * @module
 */
import { BackfillError } from '../errors.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CHECKPOINTS_TABLE,
  DEFAULT_DOCUMENTS_TABLE,
  DEFAULT_FAILURES_TABLE,
  DEFAULT_RAW_DOCUMENTS_TABLE,
  DEFAULT_STATEMENTS_TABLE,
  defaultVexNormalizers,
  MAX_BATCH_SIZE,
  PgRawDocumentSource,
  PgStatementSink,
  StatementBackfiller,
  type BackfillSummary,
} from '../statements/index.js';
import { booleanFlag, failed, intFlag, orThrow, pgFlag, stringFlag, type CommandSpec } from './command.js';
import { DATASET_DB_VARS } from './env.js';
import { EXIT_CODES } from './exit-codes.js';

function summaryLines(s: BackfillSummary): string[] {
  return [
    s.text,
    ...s.failed.slice(0, 20).map((f) => `  failed ${f.digest}: ${f.code} ${f.message}`),
    ...(s.failed.length > 20 ? [`  … ${s.failed.length - 20} more failures (see --json)`] : []),
    `run id: ${s.runId}${s.resumed ? ' (resumed from its checkpoint)' : ''}`,
    `report sha256: ${s.reportSha256}`,
  ];
}

const backfill: CommandSpec = {
  group: 'statements',
  name: 'backfill',
  summary: 'Replay raw VEX documents (OpenVEX, CSAF, CycloneDX) in ascending retrievedAt into the statements store; resumable with --run-id.',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'stellaops excititor backfill-statements [--retrieved-since] [--force] [--batch-size] [--max-documents] (seed 004), and the 21-102 backfill with --batch-size=500 --stop-on-error (seed 001)',
  flags: {
    'retrieved-since': { type: 'string', value: '<iso8601>', description: 'Only documents retrieved at or after this instant (UTC unless it has an offset).' },
    force: { type: 'boolean', description: 'Re-normalize documents that already have statements, replacing their claims.', default: false },
    'batch-size': { type: 'string', value: '<n>', description: `Raw documents per batch (one transaction each), 1 to ${MAX_BATCH_SIZE}.`, default: String(DEFAULT_BATCH_SIZE) },
    'max-documents': { type: 'string', value: '<n>', description: 'Stop after evaluating this many documents.' },
    'stop-on-error': { type: 'boolean', description: 'Stop at the first failing document (earlier batches stay committed; rerun with the same --run-id).', default: false },
    'run-id': { type: 'string', value: '<id>', description: 'Names the run; rerunning an interrupted run with its id resumes from the checkpoint.', defaultText: 'a random UUID (no resume)' },
    'raw-table': { type: 'string', value: '<schema.table>', description: 'Table of raw documents (digest, retrieved_at, content).', default: DEFAULT_RAW_DOCUMENTS_TABLE },
    'statements-table': { type: 'string', value: '<schema.table>', description: 'Table the claims are written to.', default: DEFAULT_STATEMENTS_TABLE },
    'documents-table': { type: 'string', value: '<schema.table>', description: 'Table recording backfilled documents.', default: DEFAULT_DOCUMENTS_TABLE },
    'checkpoints-table': { type: 'string', value: '<schema.table>', description: 'Table of run checkpoints.', default: DEFAULT_CHECKPOINTS_TABLE },
    'failures-table': { type: 'string', value: '<schema.table>', description: 'Table of recorded failures.', default: DEFAULT_FAILURES_TABLE },
    pg: pgFlag(DATASET_DB_VARS),
  },
  examples: [
    'backfill-kit statements backfill --retrieved-since "$(date -u -d \'48 hours ago\' +%Y-%m-%dT%H:%M:%SZ)"',
    'backfill-kit statements backfill --force --max-documents 2000',
    'backfill-kit statements backfill --batch-size 500 --stop-on-error --run-id lnm-21-102',
  ],
  async run(ctx) {
    const sinceText = stringFlag(ctx.flags, 'retrieved-since');
    const retrievedSince = sinceText === undefined ? undefined : new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(sinceText) || !sinceText.includes('T') ? sinceText : `${sinceText}Z`);
    if (retrievedSince !== undefined && Number.isNaN(retrievedSince.getTime())) {
      throw new BackfillError('INVALID_ARGUMENT', `--retrieved-since must be an ISO-8601 timestamp, not ${JSON.stringify(sinceText)}.`);
    }
    const batchSize = orThrow(intFlag(ctx.flags, 'batch-size', 1, MAX_BATCH_SIZE));
    const maxDocuments = orThrow(intFlag(ctx.flags, 'max-documents', 1));
    const runId = stringFlag(ctx.flags, 'run-id');
    const pool = ctx.pgPool(DATASET_DB_VARS);
    if (pool.isErr()) return failed(pool.error);
    const source = new PgRawDocumentSource({ pg: pool.value, table: stringFlag(ctx.flags, 'raw-table') ?? DEFAULT_RAW_DOCUMENTS_TABLE });
    const sink = new PgStatementSink({
      pg: pool.value,
      statementsTable: stringFlag(ctx.flags, 'statements-table') ?? DEFAULT_STATEMENTS_TABLE,
      documentsTable: stringFlag(ctx.flags, 'documents-table') ?? DEFAULT_DOCUMENTS_TABLE,
      checkpointsTable: stringFlag(ctx.flags, 'checkpoints-table') ?? DEFAULT_CHECKPOINTS_TABLE,
      failuresTable: stringFlag(ctx.flags, 'failures-table') ?? DEFAULT_FAILURES_TABLE,
    });
    const prepared = await sink.prepare();
    if (prepared.isErr()) return failed(prepared.error);
    const progress = ctx.progress('backfill', 'docs');
    const result = await new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers, logger: ctx.logger }).run({
      ...(retrievedSince === undefined ? {} : { retrievedSince }),
      force: booleanFlag(ctx.flags, 'force'),
      ...(batchSize === undefined ? {} : { batchSize }),
      ...(maxDocuments === undefined ? {} : { maxDocuments }),
      stopOnError: booleanFlag(ctx.flags, 'stop-on-error'),
      ...(runId === undefined ? {} : { runId }),
      onProgress: (p) => progress.update(p.evaluated, p.remaining === undefined ? undefined : p.evaluated + p.remaining, `failures ${p.failures}`),
      signal: ctx.signal,
    });
    progress.done();
    if (result.isErr()) {
      const partial = result.error.context['summary'] as BackfillSummary | undefined;
      return failed(result.error, partial ?? null, partial === undefined ? [] : ['The run stopped; committed so far:', ...summaryLines(partial)]);
    }
    const s = result.value;
    return { exitCode: s.failures > 0 ? EXIT_CODES.REJECTS.code : EXIT_CODES.OK.code, report: s, lines: summaryLines(s) };
  },
};

/** The `statements` subcommands. */
export const statementsCommands: readonly CommandSpec[] = [backfill];
