/**
 * `backfill-kit statements backfill`: the runbook's `backfill-statements`
 * command, resumable, against PostgreSQL; and the same run
 * across worker processes and hosts (`plan`, `worker`, `report`,
 * `backfill --workers N`) on the pg-boss job engine.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { err, ok, ResultAsync, safeTry, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { pgErrorToBackfill } from '../_internals/pg.js';
import type { Logger } from '../_internals/logger.js';
import { parseQualifiedName } from '../_internals/sql-identifier.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CHECKPOINTS_TABLE,
  DEFAULT_DOCUMENTS_TABLE,
  DEFAULT_FAILURES_TABLE,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
  DEFAULT_RAW_DOCUMENTS_TABLE,
  DEFAULT_STATEMENTS_TABLE,
  defaultVexNormalizers,
  MAX_BATCH_SIZE,
  PgBackfillPlanStore,
  PgRawDocumentSource,
  PgStatementSink,
  StatementBackfiller,
  type BackfillSummary,
  type CheckpointOptions,
  backfillProgress,
  backfillReport,
  DEFAULT_RANGE_SIZE,
  DEFAULT_RECONNECT_SECONDS,
  MAX_NORMALIZER_THREADS,
  MAX_RANGE_SIZE,
  planBackfill,
  runBackfillWorker,
  type DistributedBackfillConfig,
  type DistributedBackfillProgress,
  type PgBackfillPlanTables,
  type PlanBackfillOptions,
  type RetryingRange,
} from '../statements/index.js';
import { kitVersion } from '../_internals/package-json.js';
import { plannedByOtherKitVersion, shellWord, singleProcessCommand, singleProcessSink } from '../statements/distributed-plan.js';
import { planAndWork } from '../statements/distributed-worker.js';
import { rangeFailedError } from '../statements/distributed-report.js';
import { BackfillProgressReader, enqueueAgainAdvice } from '../statements/distributed-progress.js';
import { validJobsSchema } from '../statements/distributed-session.js';
import {
  booleanFlag,
  failed,
  instantFlag,
  intFlag,
  onlyWith,
  pgFlag,
  stringFlag,
  type CommandContext,
  type CommandRun,
  type CommandSpec,
  type FlagSpec,
  type FlagValues,
} from './command.js';
import { DATASET_DB_VARS } from './env.js';
import { cliPgConnection, runUrl } from './pg-connection.js';
import { resolvedSsl, withoutSslParams } from './pg-ssl.js';
import { EXIT_CODES } from './exit-codes.js';
import { counted, reworded, rewordedLogger } from './output.js';
import type { Pace } from './progress.js';

function summaryLines(s: BackfillSummary): string[] {
  return [
    s.text,
    ...s.failed.slice(0, 20).map((f) => `  failed ${f.digest}: ${f.code} ${f.message}`),
    ...(s.failed.length > 20 ? [`  … ${s.failed.length - 20} more failures (see --json)`] : []),
    `run id: ${s.runId}${s.resumed ? ' (resumed from its checkpoint)' : ''}`,
    `report sha256: ${s.reportSha256}`,
  ];
}

/**
 * The command that resumes a single-process run: its id, the options it was
 * started with, the table flags given, and `--max-claim-bytes` if given (the
 * checkpoint does not hold it, and a resume with another cap would fail
 * other documents than the run did).
 */
function resumeCommand(flags: FlagValues, runId: string, options: CheckpointOptions): string {
  const tables = TABLE_FLAGS.flatMap((flag) => {
    const value = stringFlag(flags, flag);
    if (value === undefined || value === (storeFlags[flag] ?? engineFlags[flag])?.default) return [];
    return [` --${flag} ${shellWord(value)}`];
  });
  const cap = stringFlag(flags, 'max-claim-bytes');
  const claimBytes = cap === undefined || cap === runFlags['max-claim-bytes']?.default ? '' : ` --max-claim-bytes ${shellWord(cap)}`;
  return `${singleProcessCommand(runId, { options })}${tables.join('')}${claimBytes}`;
}

/** How to resume a single-process run that stopped on an error, or was interrupted (`aborted`: there is no cause to fix first). */
function resumeLine(flags: FlagValues, partial: BackfillSummary, aborted: boolean): string {
  const when = aborted ? '' : 'once the cause is fixed, ';
  return `Every committed batch is kept; ${when}resume the run: ${resumeCommand(flags, partial.runId, partial.report.options)}`;
}

/**
 * A refused resume (other --retrieved-since, --force or --max-documents
 * than the run was started with) said with this CLI's flags: what the run
 * was started with, and the command that resumes it. Any other error is
 * returned as it is.
 */
function resumeInFlagTerms(error: BackfillError, flags: FlagValues): BackfillError {
  const { runId, started } = error.context as { runId?: string; started?: CheckpointOptions };
  if (error.code !== 'INVALID_ARGUMENT' || runId === undefined || started === undefined) return withFlagWords(error);
  const was = [
    started.retrievedSince === null ? 'no --retrieved-since' : `--retrieved-since ${started.retrievedSince}`,
    started.force ? '--force' : 'no --force',
    started.maxDocuments === null ? 'no --max-documents' : `--max-documents ${started.maxDocuments}`,
  ];
  return new BackfillError(
    error.code,
    `run ${runId} was started with ${was.join(', ')}; resume it with the same flags: ${resumeCommand(flags, runId, started)}, or use a new --run-id.`,
    { context: error.context, cause: error },
  );
}

/**
 * A statements message of the library said with this CLI's flags: the
 * library starts a stop's message with `stopOnError:`, marks the log line
 * of a stop `(stopOnError)`, has an interrupted run resumed "with the same
 * runId", starts its refusal of a run id (blank, too long, invisible
 * characters) with `runId`, and follows `--jobs-schema` and the `--…-table`
 * flags with their options' names.
 */
function inFlagWords(message: string): string {
  return message
    .replace(/^stopOnError: /, '--stop-on-error: ')
    .replaceAll('(stopOnError)', '(--stop-on-error)')
    .replace(/\bwith the same runId\b/, 'with the same --run-id')
    .replace(/^runId\b/, '--run-id')
    .replaceAll('--jobs-schema (jobsSchema)', '--jobs-schema')
    .replace(/(--(?:runs|ranges|workers)-table) \(tables\.(?:runs|ranges|workers)\)/g, '$1');
}

/**
 * A statements error of the library said with this CLI's flags ({@link inFlagWords}).
 * @internal
 */
export function withFlagWords(error: BackfillError): BackfillError {
  return reworded(error, inFlagWords);
}

/** The logger the statements commands give the library: its lines said with this CLI's flags ({@link inFlagWords}). */
const libraryLogger = (ctx: CommandContext): Logger => rewordedLogger(ctx.logger, inFlagWords);

/** Where the statement tables are, and the database. */
const storeFlags: Readonly<Record<string, FlagSpec>> = {
  'raw-table': {
    type: 'string',
    value: '<schema.table>',
    description: 'Table of raw documents (digest, retrieved_at, content).',
    default: DEFAULT_RAW_DOCUMENTS_TABLE,
  },
  'statements-table': {
    type: 'string',
    value: '<schema.table>',
    description: 'Table the claims are written to.',
    default: DEFAULT_STATEMENTS_TABLE,
  },
  'documents-table': {
    type: 'string',
    value: '<schema.table>',
    description: 'Table recording backfilled documents.',
    default: DEFAULT_DOCUMENTS_TABLE,
  },
  'checkpoints-table': {
    type: 'string',
    value: '<schema.table>',
    description: 'Table of run checkpoints.',
    default: DEFAULT_CHECKPOINTS_TABLE,
  },
  'failures-table': {
    type: 'string',
    value: '<schema.table>',
    description: 'Table of recorded failures.',
    default: DEFAULT_FAILURES_TABLE,
  },
  pg: pgFlag(DATASET_DB_VARS),
};

/** The options of a run. */
const runFlags: Readonly<Record<string, FlagSpec>> = {
  'retrieved-since': {
    type: 'string',
    value: '<iso8601>',
    description: 'Only documents retrieved at or after this instant (UTC unless it has an offset).',
  },
  force: { type: 'boolean', description: 'Re-normalize documents that already have statements, replacing their claims.', default: false },
  'batch-size': {
    type: 'string',
    value: '<n>',
    description: `Raw documents per batch (one transaction each), 1 to ${MAX_BATCH_SIZE}.`,
    default: String(DEFAULT_BATCH_SIZE),
  },
  'max-documents': { type: 'string', value: '<n>', description: 'Stop after evaluating this many documents.' },
  'max-claim-bytes': {
    type: 'string',
    value: '<n>',
    description:
      'Most bytes of claim text one document may write (its claims counted in full); a document over it fails with DOCUMENT_INVALID and writes no claim.',
    default: String(DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT),
  },
  'stop-on-error': {
    type: 'boolean',
    description: 'Stop at the first failing document (earlier batches stay committed; rerun with the same --run-id).',
    default: false,
  },
  'run-id': {
    type: 'string',
    value: '<id>',
    description: 'Names the run; rerunning an interrupted run with its id resumes from the checkpoint.',
    defaultText: 'a random UUID (no resume)',
  },
};

const rangeSizeFlag: FlagSpec = {
  type: 'string',
  value: '<n>',
  description: `Documents per key range, i.e. per job, 1 to ${MAX_RANGE_SIZE}: several batches each, and several ranges per worker (the last ranges are smaller, halving down to one batch).`,
  defaultText: String(DEFAULT_RANGE_SIZE),
};

/** Where the plan and the job queue are (every process of a run must agree). */
const engineFlags: Readonly<Record<string, FlagSpec>> = {
  'runs-table': { type: 'string', value: '<schema.table>', description: 'Table of planned runs.', default: 'vex.statement_backfill_runs' },
  'ranges-table': {
    type: 'string',
    value: '<schema.table>',
    description: 'Table of planned key ranges.',
    default: 'vex.statement_backfill_ranges',
  },
  'workers-table': {
    type: 'string',
    value: '<schema.table>',
    description: 'Table of worker heartbeats.',
    default: 'vex.statement_backfill_workers',
  },
  'jobs-schema': { type: 'string', value: '<schema>', description: 'Schema of the pg-boss job tables.', defaultText: 'pgboss' },
};

/** For the commands that enqueue or take jobs (a report does neither). */
const heartbeatFlags: Readonly<Record<string, FlagSpec>> = {
  'heartbeat-seconds': {
    type: 'string',
    value: '<n>',
    description:
      "Seconds without a heartbeat before a dead worker's job is retried elsewhere (at least 10); the planner's value is set on the jobs it enqueues.",
    defaultText: '10',
  },
};

/** How workers ride out a database outage. */
const workerFlags: Readonly<Record<string, FlagSpec>> = {
  'reconnect-seconds': {
    type: 'string',
    value: '<n>',
    description:
      'Seconds a worker waits for an unreachable database (asking again with backoff) before it fails with DB_CONNECTION; its ranges resume from their checkpoints.',
    defaultText: String(DEFAULT_RECONNECT_SECONDS),
  },
};

/** How much of the raw documents one batch reads: the commands that read pages (backfill and worker). */
const pageFlags: Readonly<Record<string, FlagSpec>> = {
  'max-batch-bytes': {
    type: 'string',
    value: '<n>',
    description:
      'Most bytes of document content per batch, besides --batch-size; a larger document goes through alone. Bounds memory when documents are large.',
    default: String(DEFAULT_MAX_BATCH_BYTES),
  },
};

/** `--max-claim-bytes`, at least 1. */
const maxClaimBytesFlag = (flags: FlagValues): Result<number | undefined, BackfillError> => intFlag(flags, 'max-claim-bytes', 1);

/** `--max-batch-bytes`, at least 1. */
const maxBatchBytesFlag = (flags: FlagValues): Result<number | undefined, BackfillError> => intFlag(flags, 'max-batch-bytes', 1);

/** The plan store's tables from the flags. */
function planTablesOf(flags: FlagValues): Required<PgBackfillPlanTables> {
  const table = (name: string, fallback: string): string => stringFlag(flags, name) ?? fallback;
  return {
    runs: table('runs-table', 'vex.statement_backfill_runs'),
    ranges: table('ranges-table', 'vex.statement_backfill_ranges'),
    workers: table('workers-table', 'vex.statement_backfill_workers'),
  };
}

/**
 * The distributed run's configuration from the flags; workers need a
 * connection URL (pg-boss opens its own pool). Its connections take the
 * settings of the CLI's pool (`sslmode` and `PGSSLMODE` as libpq reads
 * them, the OS user as the default user, `PGCONNECT_TIMEOUT`, the password
 * file as libpq reads it), not the driver's reading of the URL and the
 * environment.
 */
function clusterOf(ctx: CommandContext): ResultAsync<DistributedBackfillConfig, BackfillError> {
  return safeTry(async function* () {
    const connection = yield* cliPgConnection(stringFlag(ctx.flags, 'pg'), ctx.env, DATASET_DB_VARS);
    const url = runUrl(connection);
    if (url === undefined) {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          'planned runs and workers need a connection URL (--pg, PGURI or PG_DSN), not only libpq PG* variables.',
        ),
      );
    }
    const f = ctx.flags;
    const table = (name: string, fallback: string): string => stringFlag(f, name) ?? fallback;
    const pool = yield* ctx.pgPool(DATASET_DB_VARS);
    const ssl = yield* await ResultAsync.fromPromise(resolvedSsl(pool), (e) => pgErrorToBackfill(e));
    const heartbeatSeconds = yield* intFlag(f, 'heartbeat-seconds', 10, 3600);
    const jobsSchema = yield* validJobsSchema(table('jobs-schema', 'pgboss'), '--jobs-schema');
    return ok({
      connectionString: ssl === undefined ? url : withoutSslParams(url),
      ...(ssl === undefined ? {} : { ssl }),
      connectTimeoutMs: connection.connectTimeoutMs,
      // The pool's password setting (the password file read as libpq reads it), not the driver's own reading.
      ...(pool.options.password === undefined ? {} : { password: pool.options.password }),
      logger: libraryLogger(ctx),
      jobsSchema,
      ...(heartbeatSeconds === undefined ? {} : { heartbeatSeconds }),
      tables: {
        raw: table('raw-table', DEFAULT_RAW_DOCUMENTS_TABLE),
        statements: table('statements-table', DEFAULT_STATEMENTS_TABLE),
        documents: table('documents-table', DEFAULT_DOCUMENTS_TABLE),
        checkpoints: table('checkpoints-table', DEFAULT_CHECKPOINTS_TABLE),
        failures: table('failures-table', DEFAULT_FAILURES_TABLE),
        ...planTablesOf(f),
      },
    });
  });
}

function planOptionsOf(flags: FlagValues, runId: string): Result<PlanBackfillOptions, BackfillError> {
  return safeTry(function* () {
    const retrievedSince = yield* instantFlag(flags, 'retrieved-since');
    const batchSize = yield* intFlag(flags, 'batch-size', 1, MAX_BATCH_SIZE);
    const maxDocuments = yield* intFlag(flags, 'max-documents', 1);
    const maxClaimBytesPerDocument = yield* maxClaimBytesFlag(flags);
    const rangeSize = yield* intFlag(flags, 'range-size', 1, MAX_RANGE_SIZE);
    return ok({
      runId,
      ...(retrievedSince === undefined ? {} : { retrievedSince }),
      force: booleanFlag(flags, 'force'),
      ...(batchSize === undefined ? {} : { batchSize }),
      ...(maxDocuments === undefined ? {} : { maxDocuments }),
      ...(maxClaimBytesPerDocument === undefined ? {} : { maxClaimBytesPerDocument }),
      ...(rangeSize === undefined ? {} : { rangeSize }),
      stopOnError: booleanFlag(flags, 'stop-on-error'),
    });
  });
}

/** The table flags of the statements commands. */
const TABLE_FLAGS = [
  'raw-table',
  'statements-table',
  'documents-table',
  'checkpoints-table',
  'failures-table',
  'runs-table',
  'ranges-table',
  'workers-table',
] as const;

/**
 * Every table flag given, checked before anything connects or is created:
 * a name the database could not take is a usage error naming its flag,
 * not a failure (or a partial summary) halfway through the command.
 */
function tableFlagsValid(flags: FlagValues): Result<void, BackfillError> {
  for (const flag of TABLE_FLAGS) {
    const value = stringFlag(flags, flag);
    const parsed = value === undefined ? undefined : parseQualifiedName(value);
    if (parsed?.isErr()) {
      return err(new BackfillError('INVALID_IDENTIFIER', `--${flag}: ${parsed.error.message}`, { context: { flag } }));
    }
  }
  return ok(undefined);
}

/** The flag of each option (and store table) a plan records, as a replan refusal names them. */
const PLANNED_FLAGS: Readonly<Record<string, string>> = {
  retrievedSince: 'retrieved-since',
  force: 'force',
  maxDocuments: 'max-documents',
  stopOnError: 'stop-on-error',
  batchSize: 'batch-size',
  rangeSize: 'range-size',
  maxClaimBytesPerDocument: 'max-claim-bytes',
  'raw table': 'raw-table',
  'statements table': 'statements-table',
  'documents table': 'documents-table',
  'checkpoints table': 'checkpoints-table',
  'failures table': 'failures-table',
  'jobs schema': 'jobs-schema',
};

/**
 * A replan refusal said with this CLI's flags (the library names its
 * options): what the run was planned with, as the flags to plan it again.
 * Any other error is returned as it is.
 */
function inFlagTerms(error: BackfillError): BackfillError {
  const { runId, planned } = error.context as { runId?: string; planned?: Record<string, unknown> };
  if (error.code !== 'INVALID_ARGUMENT' || runId === undefined || planned === undefined) return withFlagWords(error);
  const flags = Object.entries(planned).map(([option, value]) => {
    const flag = `--${PLANNED_FLAGS[option] ?? option}`;
    if (value === true) return flag;
    if (value === false || value === null) return `no ${flag}`;
    return `${flag} ${typeof value === 'string' ? value : JSON.stringify(value)}`;
  });
  return new BackfillError(
    error.code,
    `run ${runId} was planned with ${flags.join(', ')}; plan it again with the same, or use a new --run-id.`,
    { context: error.context, cause: error },
  );
}

function requiredRunId(flags: FlagValues, command: string): Result<string, BackfillError> {
  const runId = stringFlag(flags, 'run-id');
  return runId === undefined
    ? err(new BackfillError('INVALID_ARGUMENT', `statements ${command} needs --run-id: the run's plan, ranges and report are found by it.`))
    : ok(runId);
}

/** The report of a planned run as the CLI prints it; exit 0 only once it completed without failures. */
async function* reportOutcome(ctx: CommandContext, runId: string): CommandRun {
  const cluster = yield* await clusterOf(ctx);
  const report = yield* await backfillReport(cluster, runId).mapErr(withFlagWords);
  const { state, summary } = report;
  // Reading is harmless whatever version planned the run; working it is not (its workers must be of that version).
  const plannedBy = plannedByOtherKitVersion(report)
    ? `run ${runId} was planned by backfill-kit ${report.kitVersion}, and only workers of that version work it (this is ${kitVersion()})`
    : undefined;
  if (state === 'completed')
    return {
      exitCode: summary.failures > 0 ? EXIT_CODES.REJECTS.code : EXIT_CODES.OK.code,
      report,
      lines: [...summaryLines(summary), ...(plannedBy === undefined ? [] : [`${plannedBy}.`])],
    };
  if (state === 'stopped') {
    const f = report.stoppedBy;
    const error = new BackfillError(
      f?.code ?? 'DOCUMENT_INVALID',
      `--stop-on-error: run ${runId} stopped at document ${f?.digest ?? '?'}: ${f?.message ?? ''}`,
      { context: { runId }, partial: report },
    );
    return failed(error, ['The run stopped; committed up to the failing document:', ...summaryLines(summary)]);
  }
  if (state === 'failed') {
    const error = rangeFailedError(runId, report.failedRanges ?? [], report);
    return failed(error, ['The run failed; committed so far:', ...summaryLines(summary)]);
  }
  const progress = await backfillProgress(cluster, runId);
  const p = progress.isOk() ? progress.value : undefined;
  const where = p === undefined ? '' : ` (${progressText(p)})`;
  // Jobs wait, but none would move without a worker (a killed one's job waits for the next worker, too).
  const next = p?.noJobQueued
    ? `but ${enqueueAgainAdvice(runId)}`
    : p?.workersAlive === 0
      ? `but no worker is alive to work it: start one (statements worker, or statements backfill --workers N --run-id ${runId} with the options it was planned with)`
      : 'report again once its workers are done';
  return failed(
    new BackfillError(
      'RUN_IN_PROGRESS',
      `run ${runId} is still running${where}; ${next}.${plannedBy === undefined ? '' : ` Note: ${plannedBy}.`}`,
      {
        context: { runId },
        partial: { ...report, progress: p ?? null },
      },
    ),
  );
}

function progressText(p: DistributedBackfillProgress): string {
  const eta = p.etaSeconds === undefined ? 'ETA unknown' : `ETA ${Math.round(p.etaSeconds)} s`;
  return `${p.done}/${p.total} documents, ranges ${p.rangesCompleted}/${p.ranges}, ${p.documentsPerSecond.toFixed(1)} docs/s, ${eta}, workers alive ${p.workersAlive}${retryingText(p.retrying)}`;
}

/** A backfill's own rate and ETA for the progress line (no ETA when it gives none, e.g. for a failed run). */
function paceOf(perSecond: number, etaSeconds: number | undefined): Pace {
  return etaSeconds === undefined ? { perSecond } : { perSecond, etaSeconds };
}

/** The ranges the job engine is retrying, for the progress line: an operator sees a run that is failing, not only running. */
function retryingText(retrying: readonly RetryingRange[]): string {
  return retrying
    .map((r) => `; range ${r.n} failing, retried (${r.failedAttempts} of ${counted(r.attempts, 'attempt')} failed; last error: ${r.error})`)
    .join('');
}

/**
 * `statements backfill --workers N`: plans the run, then works it in this
 * process until the queue is empty, and reports. This process plans and
 * works on one pg-boss instance and one pool; N-1 worker threads of it
 * parse and normalize documents beside its own thread.
 */
async function* backfillWithWorkers(ctx: CommandContext, workers: number): CommandRun {
  const runId = yield* requiredRunId(ctx.flags, 'backfill --workers');
  const cluster = yield* await clusterOf(ctx);
  const planOptions = yield* planOptionsOf(ctx.flags, runId);
  const reconnectSeconds = yield* intFlag(ctx.flags, 'reconnect-seconds', 0);
  const maxBatchBytes = yield* maxBatchBytesFlag(ctx.flags);
  const progress = ctx.progress('backfill', 'docs');
  const polling = new AbortController();
  // One progress read at a time, every 2 s, on one pool: reads that pile up under load would slow the workers.
  const poll = async (): Promise<void> => {
    await using reader = new BackfillProgressReader(cluster);
    const show = async (): Promise<void> => {
      const p = await reader.read(runId);
      if (p.isOk()) {
        const { done, total, workersAlive, retrying, documentsPerSecond, etaSeconds } = p.value;
        // The run's own pace: `done` holds what workers did before this process (a rerun after a kill).
        progress.update(done, total, `workers ${workersAlive}${retryingText(retrying)}`, paceOf(documentsPerSecond, etaSeconds));
      }
    };
    while (!polling.signal.aborted) {
      await show();
      await sleep(2000, undefined, { signal: polling.signal }).catch(() => undefined);
    }
    // The last line shows the end: a read from before it could still list a range as retrying.
    await show();
  };
  let polled: Promise<void> = Promise.resolve();
  const worked = await planAndWork(
    cluster,
    planOptions,
    {
      signal: ctx.signal,
      threads: workers - 1,
      ...(reconnectSeconds === undefined ? {} : { reconnectSeconds }),
      ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
    },
    () => {
      // Nothing to show under --quiet: no reads.
      if (!booleanFlag(ctx.flags, 'quiet')) polled = poll();
    },
  );
  polling.abort();
  await polled;
  progress.done();
  if (ctx.signal.aborted)
    return failed(
      new BackfillError('ABORTED', `run ${runId} was interrupted; every committed batch is kept, rerun with the same --run-id to resume.`),
    );
  if (worked.isErr()) return failed(inFlagTerms(worked.error));
  return yield* reportOutcome(ctx, runId);
}

const backfill: CommandSpec = {
  group: 'statements',
  name: 'backfill',
  summary:
    'Replay raw VEX documents (OpenVEX, CSAF, CycloneDX) in ascending retrievedAt into the statements store; resumable with --run-id.',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces:
    'stellaops excititor backfill-statements [--retrieved-since] [--force] [--batch-size] [--max-documents], and the 21-102 backfill with --batch-size=500 --stop-on-error',
  flags: {
    ...runFlags,
    workers: {
      type: 'string',
      value: '<n>',
      description:
        'Run the backfill as a planned run on the job engine, worked on this host by this process with n-1 worker threads of it that parse and normalize documents beside its own thread (needs --run-id).',
    },
    'range-size': rangeSizeFlag,
    ...storeFlags,
    ...engineFlags,
    ...heartbeatFlags,
    ...workerFlags,
    ...pageFlags,
  },
  examples: [
    'backfill-kit statements backfill --retrieved-since "$(date -u -d \'48 hours ago\' +%Y-%m-%dT%H:%M:%SZ)"',
    'backfill-kit statements backfill --force --max-documents 2000',
    'backfill-kit statements backfill --batch-size 500 --stop-on-error --run-id lnm-21-102',
    'backfill-kit statements backfill --run-id replay --workers 2',
  ],
  async *run(ctx) {
    yield* tableFlagsValid(ctx.flags);
    const workers = yield* intFlag(ctx.flags, 'workers', 1, MAX_NORMALIZER_THREADS + 1);
    if (workers !== undefined) return yield* backfillWithWorkers(ctx, workers);
    // The runs tables stay: a single-process run checks them for a planned run of its id.
    yield* onlyWith(ctx.flags, ['range-size', 'jobs-schema', 'heartbeat-seconds', 'reconnect-seconds'], '--workers N');
    const retrievedSince = yield* instantFlag(ctx.flags, 'retrieved-since');
    const batchSize = yield* intFlag(ctx.flags, 'batch-size', 1, MAX_BATCH_SIZE);
    const maxBatchBytes = yield* maxBatchBytesFlag(ctx.flags);
    const maxDocuments = yield* intFlag(ctx.flags, 'max-documents', 1);
    const maxClaimBytesPerDocument = yield* maxClaimBytesFlag(ctx.flags);
    const runId = stringFlag(ctx.flags, 'run-id');
    const pool = yield* ctx.pgPool(DATASET_DB_VARS);
    const source = new PgRawDocumentSource({ pg: pool, table: stringFlag(ctx.flags, 'raw-table') ?? DEFAULT_RAW_DOCUMENTS_TABLE });
    const sink = new PgStatementSink({
      pg: pool,
      statementsTable: stringFlag(ctx.flags, 'statements-table') ?? DEFAULT_STATEMENTS_TABLE,
      documentsTable: stringFlag(ctx.flags, 'documents-table') ?? DEFAULT_DOCUMENTS_TABLE,
      checkpointsTable: stringFlag(ctx.flags, 'checkpoints-table') ?? DEFAULT_CHECKPOINTS_TABLE,
      failuresTable: stringFlag(ctx.flags, 'failures-table') ?? DEFAULT_FAILURES_TABLE,
    });
    yield* await sink.prepare();
    // A run id of the caller's may be a planned run's: the run refuses it once it holds the run lock.
    const guarded =
      runId === undefined ? sink : singleProcessSink(sink, new PgBackfillPlanStore({ pg: pool, tables: planTablesOf(ctx.flags) }));
    const progress = ctx.progress('backfill', 'docs');
    const result = await new StatementBackfiller({
      source,
      sink: guarded,
      normalizers: defaultVexNormalizers,
      logger: libraryLogger(ctx),
    }).run({
      ...(retrievedSince === undefined ? {} : { retrievedSince }),
      force: booleanFlag(ctx.flags, 'force'),
      ...(batchSize === undefined ? {} : { batchSize }),
      ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
      ...(maxDocuments === undefined ? {} : { maxDocuments }),
      ...(maxClaimBytesPerDocument === undefined ? {} : { maxClaimBytesPerDocument }),
      stopOnError: booleanFlag(ctx.flags, 'stop-on-error'),
      ...(runId === undefined ? {} : { runId }),
      // This call's pace: a resumed run's `evaluated` holds what the killed process did too.
      onProgress: (p) =>
        progress.update(
          p.evaluated,
          p.remaining === undefined ? undefined : p.evaluated + p.remaining,
          `failures ${p.failures}`,
          paceOf(p.documentsPerSecond, p.etaSeconds),
        ),
      signal: ctx.signal,
    });
    progress.done();
    if (result.isErr()) {
      const partial = result.error.partial;
      return failed(
        resumeInFlagTerms(result.error, ctx.flags),
        partial === undefined
          ? []
          : [
              `The run ${result.error.code === 'ABORTED' ? 'was interrupted' : 'stopped'}; committed so far:`,
              ...summaryLines(partial),
              resumeLine(ctx.flags, partial, result.error.code === 'ABORTED'),
            ],
      );
    }
    const s = result.value;
    return { exitCode: s.failures > 0 ? EXIT_CODES.REJECTS.code : EXIT_CODES.OK.code, report: s, lines: summaryLines(s) };
  },
};

const plan: CommandSpec = {
  group: 'statements',
  name: 'plan',
  summary:
    'Plan a statement backfill on the job engine: cut the keyspace into key ranges and enqueue one job per range (idempotent per --run-id).',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'the first part of `statements backfill --workers N`, for workers on several hosts',
  flags: { ...runFlags, 'range-size': rangeSizeFlag, ...storeFlags, ...engineFlags, ...heartbeatFlags },
  examples: [
    'backfill-kit statements plan --run-id lnm-21-102 --batch-size 500 --stop-on-error',
    'backfill-kit statements plan --run-id replay --max-documents 2000 --range-size 500',
  ],
  async *run(ctx) {
    yield* tableFlagsValid(ctx.flags);
    const runId = yield* requiredRunId(ctx.flags, 'plan');
    const options = yield* planOptionsOf(ctx.flags, runId);
    const planned = await planBackfill(yield* await clusterOf(ctx), { ...options, signal: ctx.signal });
    if (planned.isErr()) return failed(inFlagTerms(planned.error));
    const p = planned.value;
    return {
      exitCode: EXIT_CODES.OK.code,
      report: p,
      lines: [
        `run ${p.runId}: ${counted(p.documents, 'document')} in ${counted(p.ranges.length, 'key range')} of up to ${p.options.rangeSize}; jobs enqueued for the ranges not yet completed.`,
        // A replan keeps the version that planned the run: only that version's workers take its jobs.
        ...(plannedByOtherKitVersion(p)
          ? [`run ${p.runId} was planned by backfill-kit ${p.kitVersion}: only workers of that version work it (this is ${kitVersion()}).`]
          : []),
      ],
    };
  },
};

const worker: CommandSpec = {
  group: 'statements',
  name: 'worker',
  summary: 'Take statement backfill jobs (key ranges of planned runs) from the job engine and backfill them; run one or more on any host.',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'the worker part of `statements backfill --workers N`, on any host',
  flags: {
    concurrency: {
      type: 'string',
      value: '<n>',
      description: 'Ranges this process backfills at once (normalizing is CPU-bound: prefer --threads, or one process per core).',
      default: '1',
    },
    threads: {
      type: 'string',
      value: '<n>',
      description: "Worker threads that parse and normalize documents beside this process's own thread (built-in normalizers).",
      default: '0',
    },
    'until-done': {
      type: 'boolean',
      description:
        "Exit once no job is queued, waiting for a retry, or running on any host: 0, or 4 (RANGE_FAILED) when a run it worked on has a range that failed every retry; jobs of runs another backfill-kit version planned are left to that version's workers, and exit 2 (INVALID_ARGUMENT, naming the runs) once every other job is done if they are still pending.",
      default: false,
    },
    'run-id': {
      type: 'string',
      value: '<id>',
      description:
        "With --until-done: first wait until this run's jobs are enqueued (for a worker started together with `statements plan`), then exit once this run is done, whatever other runs of the queue still have.",
    },
    ...storeFlags,
    ...engineFlags,
    ...heartbeatFlags,
    ...workerFlags,
    ...pageFlags,
  },
  examples: ['backfill-kit statements worker --until-done', 'backfill-kit statements worker --threads 3'],
  async *run(ctx) {
    yield* tableFlagsValid(ctx.flags);
    const concurrency = yield* intFlag(ctx.flags, 'concurrency', 1, 64);
    const threads = yield* intFlag(ctx.flags, 'threads', 0, MAX_NORMALIZER_THREADS);
    const runId = stringFlag(ctx.flags, 'run-id');
    if (!booleanFlag(ctx.flags, 'until-done')) yield* onlyWith(ctx.flags, ['run-id'], '--until-done');
    const reconnectSeconds = yield* intFlag(ctx.flags, 'reconnect-seconds', 0);
    const maxBatchBytes = yield* maxBatchBytesFlag(ctx.flags);
    const untilDone = booleanFlag(ctx.flags, 'until-done');
    const done = await runBackfillWorker(yield* await clusterOf(ctx), {
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(threads === undefined ? {} : { threads }),
      ...(reconnectSeconds === undefined ? {} : { reconnectSeconds }),
      ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
      ...(runId === undefined ? {} : { runId }),
      untilDone,
      signal: ctx.signal,
    });
    if (done.isErr()) return failed(withFlagWords(done.error));
    const w = done.value;
    // Stopping is how a worker without --until-done ends; one with it was stopped before the work was done.
    if (untilDone && ctx.signal.aborted)
      return failed(
        new BackfillError(
          'ABORTED',
          `worker ${w.workerId} was interrupted before ${runId === undefined ? 'the queue' : `run ${runId}`} was done (${counted(w.ranges, 'range')} done); its ranges resume from their checkpoints in the next worker.`,
          { partial: w },
        ),
      );
    return {
      exitCode: EXIT_CODES.OK.code,
      report: w,
      lines: [`worker ${w.workerId}: ${counted(w.ranges, 'range')} done, ${counted(w.retried, 'attempt')} left to the engine to retry.`],
    };
  },
};

const report: CommandSpec = {
  group: 'statements',
  name: 'report',
  summary: 'Print the summary sentence and report hash of a planned run (exit 0 only once it completed), or its progress while it runs.',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'the summary of `statements backfill`, for a run done by workers',
  flags: { 'run-id': { type: 'string', value: '<id>', description: 'The planned run.' }, ...storeFlags, ...engineFlags },
  examples: ['backfill-kit statements report --run-id lnm-21-102'],
  async *run(ctx) {
    yield* tableFlagsValid(ctx.flags);
    return yield* reportOutcome(ctx, yield* requiredRunId(ctx.flags, 'report'));
  },
};

/** The `statements` subcommands. */
export const statementsCommands: readonly CommandSpec[] = [backfill, plan, worker, report];
