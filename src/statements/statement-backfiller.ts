/**
 * Replays raw VEX documents into statements resumably.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, ResultAsync, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { silentLogger, type Logger } from '../_internals/logger.js';
import { DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, MAX_FAILURE_MESSAGE_LENGTH, REPORT_SCHEMA_VERSION } from './defaults.js';
import type {
  BackfillCheckpoint,
  BackfillCounters,
  BackfillFailure,
  CheckpointOptions,
  DocumentClaims,
  DocumentCursor,
  KeyRange,
  RawDocument,
  RawDocumentSource,
  StatementSink,
  StoredCheckpoint,
  VexClaim,
  VexNormalizer,
} from './ports.js';
import { buildSummary, addOutcome, OUTCOME_SUM_ZERO, type BackfillSummary } from './summary.js';

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
  /** Stop after evaluating this many documents (across resumes of the same run). */
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
   * @defaultValue a random UUID (no resume)
   */
  readonly runId?: string;
  /** Awaited between batches, e.g. to wait for replication lag to drop. */
  readonly throttle?: (progress: StatementBackfillProgress) => Promise<void>;
  /** Called after each committed batch with the counters, cursor, rate and ETA. */
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
  /** The run's options; `maxDocuments` was applied when the keyspace was cut. */
  readonly options: Omit<StatementBackfillOptions, 'runId'>;
  /** Asked between batches; `true` stops the range with `ABORTED` (an earlier range failed under `stopOnError`). */
  readonly shouldStop?: () => Promise<boolean>;
}

/** The checkpoint ids of planned runs' key ranges (see `rangeCheckpointId`), which plain runs may not take. */
const RANGE_CHECKPOINT_ID = /#range-\d+$/;

/** A document's fate within a batch. */
type Outcome =
  | { readonly kind: 'backfilled'; readonly doc: RawDocument; readonly format: string; readonly claims: readonly VexClaim[] }
  | { readonly kind: 'skipped'; readonly doc: RawDocument }
  | { readonly kind: 'failed'; readonly doc: RawDocument; readonly failure: BackfillFailure };

interface RunState {
  counters: BackfillCounters;
  cursor: DocumentCursor | null;
  outcomeSha256: string;
  failed: BackfillFailure[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Documents normalized between yields to the event loop. */
const YIELD_EVERY = 25;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function validate(options: StatementBackfillOptions): Result<void, BackfillError> {
  const bad = (message: string): Result<void, BackfillError> => err(new BackfillError('INVALID_ARGUMENT', message));
  const { batchSize, maxDocuments, retrievedSince, runId } = options;
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE)) {
    return bad(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}; got ${String(batchSize)}.`);
  }
  if (maxDocuments !== undefined && (!Number.isInteger(maxDocuments) || maxDocuments < 1)) {
    return bad(`maxDocuments must be a positive integer; got ${String(maxDocuments)}.`);
  }
  if (retrievedSince !== undefined && !(retrievedSince instanceof Date && !Number.isNaN(retrievedSince.getTime()))) {
    return bad('retrievedSince must be a valid Date.');
  }
  if (runId !== undefined && (typeof runId !== 'string' || runId.length === 0 || runId.length > 200)) {
    return bad('runId must be a non-empty string of at most 200 characters.');
  }
  return ok(undefined);
}

function sameOptions(a: CheckpointOptions, b: CheckpointOptions): boolean {
  return a.force === b.force && a.retrievedSince === b.retrievedSince && a.maxDocuments === b.maxDocuments;
}

/** Parses a document's content: text or UTF-8 bytes as JSON; objects pass through. */
function parseContent(doc: RawDocument): Result<unknown, BackfillError> {
  const { content } = doc;
  if (typeof content !== 'string' && !(content instanceof Uint8Array)) return ok(content);
  try {
    return ok(JSON.parse(typeof content === 'string' ? content : utf8.decode(content)) as unknown);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return err(
      new BackfillError('DOCUMENT_INVALID', `document ${doc.digest} is not valid UTF-8 JSON: ${why}`, {
        cause: error,
        context: { digest: doc.digest },
      }),
    );
  }
}

/** Keeps the first claim per `(vulnerabilityId, productKey)`: the sink's identity within a document. */
function dedupeClaims(claims: readonly VexClaim[]): VexClaim[] {
  const seen = new Set<string>();
  return claims.filter((c) => {
    const key = `${c.vulnerabilityId}\u0000${c.productKey}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const STATUSES: ReadonlySet<string> = new Set(['not_affected', 'affected', 'fixed', 'under_investigation']);

/** Why a claim cannot be stored (custom normalizers, or text a database cannot hold), if it cannot. */
function claimProblem(c: VexClaim): string | undefined {
  if (!STATUSES.has(c.status)) return `has status ${JSON.stringify(c.status)}, not one of ${[...STATUSES].join(', ')}`;
  if (!c.vulnerabilityId || !c.productKey) return 'has an empty vulnerability id or product key';
  for (const value of [c.vulnerabilityId, c.productKey, c.justification, c.statement, c.issuedAt, c.format]) {
    if (value?.includes('\u0000')) return 'contains a NUL character (\\u0000), which PostgreSQL text cannot hold';
  }
  return undefined;
}

function failureOf(doc: RawDocument, error: BackfillError): BackfillFailure {
  const message =
    error.message.length > MAX_FAILURE_MESSAGE_LENGTH ? `${error.message.slice(0, MAX_FAILURE_MESSAGE_LENGTH - 1)}…` : error.message;
  return { digest: doc.digest, code: error.code, message };
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
 * else console.error(result.error.code, result.error.message, result.error.context['summary']);
 * ```
 */
export class StatementBackfiller {
  readonly #config: Readonly<Required<StatementBackfillerConfig>>;

  constructor(config: StatementBackfillerConfig) {
    this.#config = Object.freeze({ logger: silentLogger, ...config, normalizers: Object.freeze([...config.normalizers]) });
  }

  /**
   * Runs (or resumes) a backfill. On failure the error's
   * `context.summary` holds the partial {@link BackfillSummary} of what was
   * committed (plus, under `stopOnError`, the failing document).
   */
  run(options: StatementBackfillOptions = {}): ResultAsync<BackfillSummary, BackfillError> {
    const valid = validate(options);
    if (valid.isErr()) return errAsync(valid.error);
    if (options.runId !== undefined && RANGE_CHECKPOINT_ID.test(options.runId)) {
      return errAsync(
        new BackfillError(
          'INVALID_ARGUMENT',
          `runId ${JSON.stringify(options.runId)} names a key range of a planned run (…#range-<n>); choose another run id.`,
        ),
      );
    }
    return ResultAsync.fromPromise(this.#run(options), (e) => toBackfillError(e, 'DB_ERROR')).andThen((r) => r);
  }

  /**
   * Backfills one planned key range under its own checkpoint, with the same
   * per-batch transaction, lock and resume as {@link StatementBackfiller.run}.
   * The summary's counters and outcome sum are the range's alone.
   */
  runRange(job: RangeRun): ResultAsync<BackfillSummary, BackfillError> {
    const valid = validate({ ...job.options, runId: job.checkpointId });
    if (valid.isErr()) return errAsync(valid.error);
    return ResultAsync.fromPromise(this.#run({ ...job.options, runId: job.checkpointId }, job), (e) =>
      toBackfillError(e, 'DB_ERROR'),
    ).andThen((r) => r);
  }

  async #run(options: StatementBackfillOptions, scope?: RangeRun): Promise<Result<BackfillSummary, BackfillError>> {
    const { sink } = this.#config;
    const runId = options.runId ?? randomUUID();
    const runOptions: CheckpointOptions = {
      retrievedSince: options.retrievedSince?.toISOString() ?? null,
      force: options.force ?? false,
      maxDocuments: options.maxDocuments ?? null,
    };

    if (sink.prepare) {
      const prepared = await sink.prepare();
      if (prepared.isErr()) return err(prepared.error);
    }
    // One writer per run id: a second process would interleave its checkpoints with ours.
    const locked = sink.lockRun ? await sink.lockRun(runId) : undefined;
    if (locked?.isErr()) return err(locked.error);
    try {
      return await this.#resume(options, runId, runOptions, scope);
    } finally {
      if (locked?.isOk()) await locked.value.release();
    }
  }

  async #resume(
    options: StatementBackfillOptions,
    runId: string,
    runOptions: CheckpointOptions,
    scope?: RangeRun,
  ): Promise<Result<BackfillSummary, BackfillError>> {
    const { source, sink, logger } = this.#config;
    const force = runOptions.force;
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    const loaded = await sink.loadCheckpoint(runId);
    if (loaded.isErr()) return err(loaded.error);
    const saved: StoredCheckpoint | null = loaded.value;
    if (saved && !sameOptions(saved.options, runOptions)) {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          `run ${runId} was started with ${JSON.stringify(saved.options)}; resume it with the same retrievedSince, force and maxDocuments, or use a new runId.`,
          { context: { runId } },
        ),
      );
    }
    const state: RunState = saved
      ? { counters: saved.counters, cursor: saved.cursor, outcomeSha256: saved.outcomeSha256, failed: [...saved.failed] }
      : {
          counters: { evaluated: 0, backfilled: 0, claimsWritten: 0, skipped: 0, failures: 0 },
          cursor: null,
          outcomeSha256: OUTCOME_SUM_ZERO,
          failed: [],
        };
    if (saved)
      logger.info('statement backfill: resuming from checkpoint', { runId, cursor: saved.cursor, evaluated: saved.counters.evaluated });

    const summarize = (s: RunState): BackfillSummary =>
      buildSummary({
        runId,
        resumed: saved !== null,
        report: {
          schemaVersion: REPORT_SCHEMA_VERSION,
          options: runOptions,
          counters: s.counters,
          lastCursor: s.cursor,
          outcomeSha256: s.outcomeSha256,
          failed: s.failed,
        },
      });
    const fail = (error: BackfillError, s: RunState = state): Result<BackfillSummary, BackfillError> => {
      const summary = summarize(s);
      return err(
        new BackfillError(error.code, error.message, {
          cause: error.cause ?? error,
          context: { ...error.context, runId, summary },
          ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
        }),
      );
    };

    // A range's end was fixed when the keyspace was cut, maxDocuments included.
    const limitTo = scope === undefined ? runOptions.maxDocuments : null;
    const budget = (evaluated: number): number => (limitTo === null ? batchSize : Math.min(batchSize, Math.max(0, limitTo - evaluated)));
    const start = scope?.range.after ?? null;
    const fetchPage = (after: DocumentCursor | null, limit: number): Promise<Result<readonly RawDocument[], BackfillError>> => {
      const from = after ?? start;
      return limit <= 0
        ? Promise.resolve(ok([]))
        : Promise.resolve(
            source.readPage({
              limit,
              ...(from === null ? {} : { after: from }),
              ...(scope === undefined ? {} : { until: scope.range.through }),
              ...(options.retrievedSince === undefined ? {} : { retrievedSince: options.retrievedSince }),
              ...(options.signal === undefined ? {} : { signal: options.signal }),
            }),
          );
    };
    /** The page cut after the range's last document, and whether it was reached. */
    const inRange = (docs: readonly RawDocument[]): { docs: readonly RawDocument[]; ended: boolean } => {
      if (scope === undefined) return { docs, ended: false };
      const { through } = scope.range;
      const end = docs.findIndex((d) => d.cursor.digest === through.digest && d.cursor.retrievedAt === through.retrievedAt);
      return end === -1 ? { docs, ended: false } : { docs: docs.slice(0, end + 1), ended: true };
    };

    let remainingAtStart: number | undefined;
    if (scope !== undefined) remainingAtStart = Math.max(0, scope.range.documents - state.counters.evaluated);
    else if (source.count) {
      const counted = await source.count({
        ...(state.cursor === null ? {} : { after: state.cursor }),
        ...(options.retrievedSince === undefined ? {} : { retrievedSince: options.retrievedSince }),
      });
      if (counted.isOk()) {
        remainingAtStart =
          runOptions.maxDocuments === null
            ? counted.value
            : Math.min(counted.value, Math.max(0, runOptions.maxDocuments - state.counters.evaluated));
      }
    }

    const started = Date.now();
    const evaluatedAtStart = state.counters.evaluated;
    let batches = 0;
    const aborted = (): BackfillError =>
      new BackfillError('ABORTED', `run ${runId} was aborted; every committed batch is kept, rerun with the same runId to resume.`);
    const commit = (list: readonly Outcome[], next: RunState): Promise<Result<unknown, BackfillError>> => {
      const documents: DocumentClaims[] = [];
      const failures: BackfillFailure[] = [];
      for (const o of list) {
        if (o.kind === 'backfilled') documents.push({ digest: o.doc.digest, format: o.format, claims: o.claims });
        else if (o.kind === 'failed') failures.push(o.failure);
      }
      const checkpoint: BackfillCheckpoint = {
        runId,
        cursor: next.cursor,
        counters: next.counters,
        options: runOptions,
        outcomeSha256: next.outcomeSha256,
        completed: false,
      };
      return Promise.resolve(sink.commitBatch({ runId, force, documents, failures, checkpoint }));
    };

    // One batch may be committing while the next is read and normalized.
    let inflight: {
      readonly done: Promise<Result<unknown, BackfillError>>;
      readonly list: readonly Outcome[];
      readonly next: RunState;
    } | null = null;
    /** Waits for the in-flight commit, then reports progress and throttles. */
    const settle = async (): Promise<BackfillError | null> => {
      if (inflight === null) return null;
      const { done, list, next } = inflight;
      inflight = null;
      const committed = await done;
      if (committed.isErr()) return committed.error;
      Object.assign(state, next);
      batches += 1;
      for (const o of list) if (o.kind === 'failed') logger.warn('statement backfill: document failed', { runId, ...o.failure });
      const elapsed = Math.max((Date.now() - started) / 1000, 1e-3);
      const rate = (state.counters.evaluated - evaluatedAtStart) / elapsed;
      const remaining =
        remainingAtStart === undefined ? undefined : Math.max(0, remainingAtStart - (state.counters.evaluated - evaluatedAtStart));
      const progress: StatementBackfillProgress = {
        runId,
        ...state.counters,
        batches,
        cursor: state.cursor,
        documentsPerSecond: rate,
        ...(remaining === undefined ? {} : { remaining, etaSeconds: rate > 0 ? remaining / rate : 0 }),
      };
      options.onProgress?.(progress);
      logger.debug?.('statement backfill: batch committed', { ...progress });
      if (options.throttle) {
        try {
          await options.throttle(progress);
        } catch (error) {
          // A throttle that throws asks the run to stop; what is committed stays.
          return toBackfillError(error, 'ABORTED', { runId });
        }
      }
      return null;
    };

    let planned: RunState = state;
    let pending = fetchPage(state.cursor, budget(state.counters.evaluated));
    for (;;) {
      if (options.signal?.aborted) {
        const late = await settle();
        return fail(late ?? aborted());
      }
      if (scope?.shouldStop && (await scope.shouldStop())) {
        const late = await settle();
        return fail(
          late ??
            new BackfillError('ABORTED', `range ${runId} stopped: an earlier range of its run failed under stopOnError.`, {
              context: { stoppedByEarlierFailure: true },
            }),
        );
      }
      const page = await pending;
      if (page.isErr()) {
        const late = await settle();
        return fail(late ?? page.error);
      }
      const { docs, ended } = inRange(page.value);
      if (docs.length === 0) break;
      const last = docs[docs.length - 1] as RawDocument;
      // Read the next page while this one is normalized and written.
      pending = ended ? Promise.resolve(ok([])) : fetchPage(last.cursor, budget(planned.counters.evaluated + docs.length));
      pending.catch(() => undefined);

      const committing = new Set(inflight?.list.filter((o) => o.kind === 'backfilled').map((o) => o.doc.digest));
      const outcomes = await this.#evaluate(docs, force, options.stopOnError ?? false, committing);
      const previous = await settle();
      if (previous) return fail(previous);
      if (outcomes.isErr()) return fail(outcomes.error);
      if (options.signal?.aborted) return fail(aborted());
      const { list, stoppedAt } = outcomes.value;
      const next = this.#apply(planned, list);

      if (stoppedAt !== undefined) {
        // Commit the documents before the failing one, then stop; the failing one stays unprocessed.
        if (list.length > 0) {
          inflight = { done: commit(list, next), list, next };
          const late = await settle();
          if (late) return fail(late);
        }
        const failure = failureOf(stoppedAt.doc, stoppedAt.error);
        logger.error('statement backfill: stopping at the first failure (stopOnError)', { runId, ...failure });
        const shown: RunState = {
          ...state,
          counters: { ...state.counters, evaluated: state.counters.evaluated + 1, failures: state.counters.failures + 1 },
          failed: [...state.failed, failure],
        };
        return fail(
          new BackfillError(stoppedAt.error.code, `stopOnError: ${stoppedAt.error.message}`, {
            cause: stoppedAt.error,
            context: { digest: stoppedAt.doc.digest, stopOnErrorFailure: failure },
          }),
          shown,
        );
      }
      const done = commit(list, next);
      done.catch(() => undefined);
      inflight = { done, list, next };
      planned = next;
    }
    const last = await settle();
    if (last) return fail(last);

    // Mark the run completed (a no-op for the counters) so operators can tell finished runs apart.
    const done = await sink.commitBatch({
      runId,
      force,
      documents: [],
      failures: [],
      checkpoint: {
        runId,
        cursor: state.cursor,
        counters: state.counters,
        options: runOptions,
        outcomeSha256: state.outcomeSha256,
        completed: true,
      },
    });
    if (done.isErr()) return fail(done.error);
    const summary = summarize(state);
    logger.info(summary.text, { runId, reportSha256: summary.reportSha256 });
    return ok(summary);
  }

  /** Normalizes a page and decides each document's outcome. Stops early under `stopOnError`. */
  async #evaluate(
    docs: readonly RawDocument[],
    force: boolean,
    stopOnError: boolean,
    committing: ReadonlySet<string>,
  ): Promise<Result<{ list: Outcome[]; stoppedAt?: { doc: RawDocument; error: BackfillError } }, BackfillError>> {
    // Documents of the batch still committing count as existing: the sink cannot see them yet.
    let existing: ReadonlySet<string> = new Set();
    if (!force) {
      const found = await this.#config.sink.existingDigests([...new Set(docs.map((d) => d.digest))]);
      if (found.isErr()) return err(found.error);
      existing = new Set([...found.value, ...committing]);
    }
    const seen = new Set<string>();
    const list: Outcome[] = [];
    for (const [i, doc] of docs.entries()) {
      // Let the previous batch's commit make progress (each of its statements needs the event loop).
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
      if (existing.has(doc.digest) || seen.has(doc.digest)) {
        list.push({ kind: 'skipped', doc });
        continue;
      }
      seen.add(doc.digest);
      const normalized = this.#normalize(doc);
      if (normalized.isErr()) {
        if (stopOnError) return ok({ list, stoppedAt: { doc, error: normalized.error } });
        list.push({ kind: 'failed', doc, failure: failureOf(doc, normalized.error) });
        continue;
      }
      list.push({ kind: 'backfilled', doc, ...normalized.value });
    }
    return ok({ list });
  }

  #normalize(doc: RawDocument): Result<{ format: string; claims: readonly VexClaim[] }, BackfillError> {
    return parseContent(doc).andThen((parsed) => {
      const normalizer = this.#config.normalizers.find((n) => n.canNormalize(parsed));
      if (normalizer === undefined) {
        return err(
          new BackfillError(
            'NO_NORMALIZER',
            `document ${doc.digest}: no registered normalizer recognises its format (registered: ${this.#config.normalizers.map((n) => n.format).join(', ') || 'none'}).`,
            {
              context: { digest: doc.digest },
            },
          ),
        );
      }
      let result: Result<readonly VexClaim[], BackfillError>;
      try {
        result = normalizer.normalize(parsed, { digest: doc.digest, retrievedAt: doc.retrievedAt });
      } catch (error) {
        // A custom normalizer that throws fails its document, not the run.
        result = err(
          new BackfillError(
            'DOCUMENT_INVALID',
            `document ${doc.digest}: the ${normalizer.format} normalizer threw: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error, context: { digest: doc.digest } },
          ),
        );
      }
      return result.andThen((claims) => {
        for (const claim of claims) {
          const problem = claimProblem(claim);
          if (problem !== undefined) {
            return err(
              new BackfillError(
                'DOCUMENT_INVALID',
                `document ${doc.digest}: a ${normalizer.format} claim for ${claim.vulnerabilityId} ${problem}.`,
                { context: { digest: doc.digest } },
              ),
            );
          }
        }
        return ok({ format: normalizer.format, claims: dedupeClaims(claims) });
      });
    });
  }

  /** The run state after a batch's outcomes, without mutating `state`. */
  #apply(state: RunState, list: readonly Outcome[]): RunState {
    let { evaluated, backfilled, claimsWritten, skipped, failures } = state.counters;
    let chain = state.outcomeSha256;
    let cursor = state.cursor;
    const failed = [...state.failed];
    for (const o of list) {
      evaluated += 1;
      cursor = o.doc.cursor;
      if (o.kind === 'backfilled') {
        backfilled += 1;
        claimsWritten += o.claims.length;
        chain = addOutcome(chain, o.doc.digest, `backfilled ${o.claims.length}`);
      } else if (o.kind === 'skipped') {
        skipped += 1;
        chain = addOutcome(chain, o.doc.digest, 'skipped');
      } else {
        failures += 1;
        failed.push(o.failure);
        chain = addOutcome(chain, o.doc.digest, `failed ${o.failure.code}`);
      }
    }
    return { counters: { evaluated, backfilled, claimsWritten, skipped, failures }, cursor, outcomeSha256: chain, failed };
  }
}
