/**
 * Replays raw VEX documents into statements resumably.
 *
 * @module
 */
import { err, errAsync, type Result, type ResultAsync } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { backfill, readPage } from './backfill-run.js';
import { backfillerContext, plainRunId, runContext, type BackfillerContext, type RunContext } from './run-context.js';
import type { BackfillCounters, DocumentCursor, KeyRange, RawDocument, RawDocumentSource, StatementSink, VexNormalizer } from './ports.js';
import type { BackfillSummary } from './summary.js';
import type { NormalizerThreads } from './normalizer-threads.js';

/**
 * What {@link StatementBackfiller} is built from.
 *
 * @example
 * ```ts
 * const config: StatementBackfillerConfig = {
 *   source: new PgRawDocumentSource({ pg: pool }),
 *   sink: new PgStatementSink({ pg: pool }),
 *   normalizers: [openVexNormalizer, csafVexNormalizer, cycloneDxVexNormalizer],
 * };
 * ```
 */
export interface StatementBackfillerConfig {
  readonly source: RawDocumentSource;
  readonly sink: StatementSink;
  /** Tried in order; the first whose `canNormalize` accepts a document normalizes it. */
  readonly normalizers: readonly VexNormalizer[];
  /**
   * Threads to normalize on besides this one (the built-in normalizers
   * only): parsing large documents is the CPU-bound part of a backfill.
   * The caller owns them and closes them.
   */
  readonly normalizerThreads?: NormalizerThreads;
  /** @defaultValue a logger that discards everything */
  readonly logger?: Logger;
}

/**
 * Progress after each committed batch.
 *
 * @example
 * ```ts
 * await backfiller.run({ onProgress: (p) => console.log(p.evaluated, p.remaining, p.etaSeconds) });
 * ```
 */
export interface StatementBackfillProgress extends BackfillCounters {
  readonly runId: string;
  /** Batches committed by this call. */
  readonly batches: number;
  readonly cursor: DocumentCursor | null;
  /** Documents still to evaluate, when the source can count them. */
  readonly remaining?: number;
  /** Documents evaluated per second by this call. */
  readonly documentsPerSecond: number;
  /** Seconds to go at the current rate, when `remaining` is known. */
  readonly etaSeconds?: number;
}

/**
 * Options of one {@link StatementBackfiller.run}.
 *
 * @example
 * ```ts
 * await backfiller.run({ retrievedSince: new Date('2025-10-17T00:00:00Z'), batchSize: 500, stopOnError: true, runId: 'lnm-21-102' });
 * ```
 */
export interface StatementBackfillOptions {
  /** Only documents retrieved at or after this instant. */
  readonly retrievedSince?: Date;
  /**
   * Re-normalize documents that already have statements, replacing their claims.
   * @defaultValue false
   */
  readonly force?: boolean;
  /** @defaultValue {@link DEFAULT_BATCH_SIZE} (100) */
  readonly batchSize?: number;
  /**
   * Most bytes of document content one batch reads, besides its
   * `batchSize` documents (an integer of at least 1): a batch ends before
   * the document that would take it over, but holds at least one document,
   * so a document larger than this goes through alone. Bounds a batch's
   * memory when documents are large (100 documents of 150 MB would not fit
   * a Node heap). Not part of the checkpoint: a resumed run may change it.
   * @defaultValue {@link DEFAULT_MAX_BATCH_BYTES} (64 MiB)
   */
  readonly maxBatchBytes?: number;
  /**
   * Most bytes (UTF-8) of claims one document may make (an integer of at
   * least 1): every claim's text (key, status, justification, statement,
   * time, digest, format) counted in full, as each claim row stores it. A
   * document over it fails with `DOCUMENT_INVALID`, naming this option, and
   * writes no claim; the run goes on (or stops, under `stopOnError`). Bounds
   * what one small document can write: one long statement given to each of
   * many products is stored once per product. A document under it is
   * backfilled as before, so the summary and report hash do not depend on
   * it. Not part of the checkpoint: a resumed run should keep it, as a
   * planned run's workers do (the plan records it).
   * @defaultValue {@link DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT} (64 MiB)
   */
  readonly maxClaimBytesPerDocument?: number;
  /** Stop after evaluating this many documents (across resumes of the same run); 1 to `Number.MAX_SAFE_INTEGER`. */
  readonly maxDocuments?: number;
  /**
   * Stop at the first failing document instead of counting it and going on.
   * The documents before it are committed; it is not, so a rerun with the same
   * `runId` retries it.
   * @defaultValue false
   */
  readonly stopOnError?: boolean;
  /**
   * Names the run. A run with the id of an interrupted run resumes from its
   * checkpoint; it must use the same `retrievedSince`, `force` and `maxDocuments`.
   * One with the id of a completed run returns that run's summary and report
   * hash at once, reading no documents (to backfill documents added since,
   * start a run with a new id).
   * @defaultValue a random UUID (no resume)
   */
  readonly runId?: string;
  /** Awaited between batches, e.g. to wait for replication lag to drop. */
  readonly throttle?: (progress: StatementBackfillProgress) => Promise<void>;
  /** Called after each committed batch with the counters, cursor, rate and ETA. A callback that throws is ignored (logged once at warn). */
  readonly onProgress?: (progress: StatementBackfillProgress) => void;
  /** Stops the run between batches; every committed batch is kept and the run resumes by `runId`. */
  readonly signal?: AbortSignal;
}

/**
 * One key range of a planned run, as a distributed worker backfills it
 * (see `runBackfillWorker`).
 *
 * @example
 * ```ts
 * await backfiller.runRange({ checkpointId: 'nightly#range-3', range, options: { batchSize: 100 } });
 * ```
 */
export interface RangeRun {
  /** The range's own checkpoint (and run lock) id. */
  readonly checkpointId: string;
  readonly range: KeyRange;
  /**
   * The run's options. `maxDocuments` was applied when the keyspace was
   * cut; under it the range also stops after `range.documents` documents,
   * so documents inserted into it since cannot take the run past `maxDocuments`.
   */
  readonly options: Omit<StatementBackfillOptions, 'runId'>;
  /** Asked between batches; `true` stops the range with `ABORTED` (an earlier range failed under `stopOnError`). */
  readonly shouldStop?: () => Promise<boolean>;
  /**
   * Called once the range's last page is read, while its last batch is
   * still normalized and committed: a worker can take its next range then
   * and read that one's first page meanwhile ({@link StatementBackfiller.readAhead}).
   */
  readonly onLastPageRead?: () => void;
  /** The range's first page, read ahead; used when the range starts from its beginning (no checkpoint yet), else dropped. */
  readonly firstPage?: RangeFirstPage;
}

/**
 * A range's first page, read before the range runs.
 *
 * @example
 * ```ts
 * const firstPage = backfiller.readAhead(next);
 * await backfiller.runRange({ ...next, firstPage });
 * ```
 */
export interface RangeFirstPage {
  readonly page: Promise<Result<readonly RawDocument[], BackfillError>>;
}

/**
 * Rebuilds statements from raw VEX documents, as the statements backfill runbook does: documents
 * stream in ascending `(retrievedAt, digest)` order, each is normalized by
 * the first normalizer that recognises it, documents whose digest already has
 * statements are skipped unless `force`, and failures are recorded with their
 * digest while the run goes on (unless `stopOnError`). Each batch's claims and
 * the run's checkpoint commit together, so a run killed at any point resumes
 * with the same `runId` to the same statements and the same summary.
 *
 * @example
 * ```ts
 * const backfiller = new StatementBackfiller({
 *   source: new PgRawDocumentSource({ pg: pool }),
 *   sink: new PgStatementSink({ pg: pool }),
 *   normalizers: [csafVexNormalizer, cycloneDxVexNormalizer, openVexNormalizer],
 * });
 * const result = await backfiller.run({ batchSize: 500, runId: 'replay-2025-10-19' });
 * if (result.isOk()) console.log(result.value.text);
 * else console.error(result.error.code, result.error.message, result.error.partial?.text); // what was committed
 * ```
 */
export class StatementBackfiller {
  /** The checked, frozen config, or why it is invalid (then every run returns that error). */
  readonly #context: Result<Readonly<BackfillerContext>, BackfillError>;

  constructor(config: StatementBackfillerConfig) {
    this.#context = backfillerContext(config);
  }

  /**
   * Runs (or resumes) a backfill. On failure the error's `partial` holds the
   * {@link BackfillSummary} of what was committed (plus, under `stopOnError`,
   * the failing document); it is `undefined` when the run failed before
   * loading its checkpoint (invalid options, the run lock, the database).
   */
  run(options: StatementBackfillOptions = {}): ResultAsync<BackfillSummary, BackfillError<BackfillSummary>> {
    return this.#start(this.#context.andThen((context) => plainRunId(options.runId).andThen(() => runContext(context, options))));
  }

  /**
   * Backfills one planned key range under its own checkpoint, with the same
   * per-batch transaction, lock and resume as {@link StatementBackfiller.run}.
   * The summary's counters and outcome sum are the range's alone.
   */
  runRange(job: RangeRun): ResultAsync<BackfillSummary, BackfillError<BackfillSummary>> {
    return this.#start(this.#context.andThen((context) => runContext(context, { ...job.options, runId: job.checkpointId }, job)));
  }

  /**
   * Reads the first page of a range before it runs (with the same query its
   * run would send), to hand to {@link StatementBackfiller.runRange} as `firstPage`.
   */
  readAhead(job: RangeRun): RangeFirstPage {
    const page = this.#context
      .andThen((context) => runContext(context, { ...job.options, runId: job.checkpointId }, job))
      .match(
        (ctx) => readPage(ctx, null, 0),
        (error) => Promise.resolve(err(error)),
      );
    return { page };
  }

  #start(context: Result<Readonly<RunContext>, BackfillError>): ResultAsync<BackfillSummary, BackfillError<BackfillSummary>> {
    return context.match(backfill, (error) => errAsync(error.withoutPartial()));
  }
}
