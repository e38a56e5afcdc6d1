/**
 * One statement backfill run, from its {@link RunContext} to its summary:
 * the run prepares the sink, takes the run lock, loads the checkpoint, and
 * goes page by page, one batch committing while the next page is read and
 * normalized.
 *
 * @module
 */
import { err, errAsync, ok, okAsync, ResultAsync, safeTry, type Err, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { REPORT_SCHEMA_VERSION } from './defaults.js';
import {
  applyOutcomes,
  evaluatePage,
  failureOf,
  failuresOf,
  stateOf,
  withFailures,
  type DocumentKey,
  type Outcome,
  type RunState,
} from './outcomes.js';
import type { BackfillCheckpoint, DocumentClaims, DocumentCursor, RawDocument, StatementBatchResult, StoredCheckpoint } from './ports.js';
import type { RunContext } from './run-context.js';
import type { RangeFirstPage, StatementBackfillProgress } from './statement-backfiller.js';
import { buildSummary, type BackfillSummary, type SummaryState } from './summary.js';

/** Runs (or resumes) the backfill the context describes. */
export function backfill(ctx: RunContext): ResultAsync<BackfillSummary, BackfillError<BackfillSummary>> {
  // Anything a source, sink or callback throws instead of returning a Result becomes DB_ERROR.
  return ResultAsync.fromPromise(locked(ctx), (e) => toBackfillError(e, 'DB_ERROR').withoutPartial()).andThen((r) => r);
}

/** Prepares the sink, then resumes under the run lock. */
function locked(ctx: RunContext): ResultAsync<BackfillSummary, BackfillError<BackfillSummary>> {
  return safeTry(async function* () {
    if (ctx.sink.prepare) yield* ctx.sink.prepare().mapErr((e) => e.withoutPartial());
    // One writer per run id: a second process would interleave its checkpoints with ours.
    const lock = ctx.sink.lockRun ? yield* ctx.sink.lockRun(ctx.runId).mapErr((e) => e.withoutPartial()) : undefined;
    // No yield* inside: safeTry drops the generator at an Err without running its finally.
    try {
      return await resume(ctx);
    } finally {
      await lock?.release();
    }
  });
}

/** Loads the checkpoint, refuses a resume with other options, and runs from there (a completed run only returns its summary). */
function resume(ctx: RunContext): ResultAsync<BackfillSummary, BackfillError<BackfillSummary>> {
  return safeTry(async function* () {
    const saved = yield* ctx.sink.loadCheckpoint(ctx.runId).mapErr((e) => e.withoutPartial());
    yield* resumable(ctx, saved).mapErr((e) => e.withoutPartial());
    // A completed run is reported, not read on: from its cursor it would take in documents added since and change its summary and report hash.
    if (saved?.completed) {
      const summary = summaryOf(ctx, true, stateOf(saved), 'completed');
      ctx.logger.info('statement backfill: the run completed earlier; nothing to do', {
        runId: ctx.runId,
        reportSha256: summary.reportSha256,
      });
      return ok(summary);
    }
    if (saved) {
      ctx.logger.info('statement backfill: resuming from checkpoint', {
        runId: ctx.runId,
        cursor: saved.cursor,
        evaluated: saved.counters.evaluated,
      });
    }
    const state = stateOf(saved);
    const remaining = yield* remainingAtStart(ctx, state);
    return await new BackfillRun(ctx, saved !== null, state, remaining).toEnd();
  });
}

function resumable(ctx: RunContext, saved: StoredCheckpoint | null): Result<void, BackfillError> {
  const a = saved?.options;
  const b = ctx.checkpointOptions;
  if (a === undefined || (a.force === b.force && a.retrievedSince === b.retrievedSince && a.maxDocuments === b.maxDocuments)) {
    return ok(undefined);
  }
  return err(
    new BackfillError(
      'INVALID_ARGUMENT',
      `run ${ctx.runId} was started with ${JSON.stringify(a)}; resume it with the same retrievedSince, force and maxDocuments, or use a new runId.`,
      { context: { runId: ctx.runId, started: a } },
    ),
  );
}

/** Documents still to evaluate, for the ETA: the range's rest, or the source's count when it can count (a failed count only loses the ETA). */
function remainingAtStart(ctx: RunContext, state: RunState): ResultAsync<number | undefined, never> {
  const { evaluated } = state.counters;
  if (ctx.rangeDocuments !== undefined) return okAsync(Math.max(0, ctx.rangeDocuments - evaluated));
  if (!ctx.source.count) return okAsync(undefined);
  const max = ctx.checkpointOptions.maxDocuments;
  return ctx.source
    .count({
      ...(state.cursor === null ? {} : { after: state.cursor }),
      ...(ctx.pageQuery.retrievedSince === undefined ? {} : { retrievedSince: ctx.pageQuery.retrievedSince }),
    })
    .map((n): number | undefined => (max === null ? n : Math.min(n, Math.max(0, max - evaluated))))
    .orElse(() => okAsync(undefined));
}

/** At most a batch's worth of documents (and of content bytes) after `after` (or the run's start), within `maxDocuments` (`evaluated` counts the ones before it). */
export function readPage(
  ctx: RunContext,
  after: DocumentCursor | null,
  evaluated: number,
): Promise<Result<readonly RawDocument[], BackfillError>> {
  const { batchSize, limitTo, maxBatchBytes, pageQuery, source } = ctx;
  const limit = limitTo === null ? batchSize : Math.min(batchSize, Math.max(0, limitTo - evaluated));
  const from = after ?? ctx.start;
  if (limit <= 0) return Promise.resolve(ok([]));
  return Promise.resolve(source.readPage({ ...pageQuery, limit, maxBytes: maxBatchBytes, ...(from === null ? {} : { after: from }) }));
}

/** A batch sent to the sink and not yet known to be committed. */
interface InFlight {
  readonly done: Promise<Result<StatementBatchResult, BackfillError>>;
  readonly list: readonly Outcome[];
  readonly next: RunState;
}

const abortedRun = (runId: string): BackfillError =>
  new BackfillError('ABORTED', `run ${runId} was aborted; every committed batch is kept, rerun with the same runId to resume.`);

/** The page cut after the range's last document, and whether it was reached. */
function inRange(ctx: RunContext, docs: readonly RawDocument[]): { docs: readonly RawDocument[]; ended: boolean } {
  const { through } = ctx;
  if (through === null) return { docs, ended: false };
  const end = docs.findIndex((d) => d.cursor.digest === through.digest && d.cursor.retrievedAt === through.retrievedAt);
  return end === -1 ? { docs, ended: false } : { docs: docs.slice(0, end + 1), ended: true };
}

/**
 * A run from its checkpoint to its end. `#state` is what is committed;
 * `#planned` is what will be once the batch in flight commits too.
 */
class BackfillRun {
  readonly #ctx: RunContext;
  readonly #resumed: boolean;
  readonly #started = Date.now();
  readonly #evaluatedAtStart: number;
  readonly #remainingAtStart: number | undefined;
  #state: RunState;
  #planned: RunState;
  #inflight: InFlight | null = null;
  #batches = 0;
  #firstPage: RangeFirstPage | undefined;
  #lastRead = false;

  constructor(ctx: RunContext, resumed: boolean, state: RunState, remainingAtStart: number | undefined) {
    this.#ctx = ctx;
    this.#resumed = resumed;
    this.#state = state;
    this.#planned = state;
    this.#evaluatedAtStart = state.counters.evaluated;
    this.#remainingAtStart = remainingAtStart;
    this.#firstPage = ctx.firstPage;
  }

  /** Every page to the end of the keyspace (or range), then the checkpoint marked completed. */
  toEnd(): ResultAsync<BackfillSummary, BackfillError<BackfillSummary>> {
    return safeTry(() => this.#pages());
  }

  /**
   * The loop; each step's error ends the run through `#orStop`. Steps are
   * awaited to a plain `Result` before `yield*`: delegating to a
   * `ResultAsync` goes through neverthrow's async iterator, which cost about
   * a fifth more CPU (and three times the GC) per page in this loop.
   */
  async *#pages(): AsyncGenerator<Err<never, BackfillError<BackfillSummary>>, Result<BackfillSummary, BackfillError<BackfillSummary>>> {
    const { logger, runId } = this.#ctx;
    let pending = this.#read(this.#state.cursor, this.#state.counters.evaluated);
    let endCommitted = false;
    for (;;) {
      yield* await this.#orStop(this.#mayGoOn());
      const { docs, ended } = inRange(this.#ctx, yield* await this.#orStop(pending));
      if (ended || docs.length === 0) this.#lastPageRead();
      if (docs.length === 0) break;
      const last = docs[docs.length - 1] as RawDocument;
      // Read the next page while this one is normalized and written.
      pending = ended ? Promise.resolve(ok([])) : this.#read(last.cursor, this.#planned.counters.evaluated + docs.length);
      pending.catch(() => undefined);
      const evaluated = await evaluatePage(this.#ctx, docs, this.#committing());
      yield* await this.#orStop(this.#settle());
      const page = yield* await this.#orStop(evaluated);
      yield* await this.#orStop(this.#ctx.signal?.aborted ? err(abortedRun(runId)) : ok(undefined));
      const next = applyOutcomes(this.#planned, page.list);
      if (page.stoppedAt !== undefined) return yield* this.#stopAtFailure(page.list, next, page.stoppedAt);
      // A range's last page is known when read: its batch also marks the range completed (one commit less per range).
      this.#send(page.list, next, ended);
      this.#planned = next;
      endCommitted = ended;
    }
    yield* await this.#orStop(this.#settle());
    // Mark the run completed (a no-op for the counters) so operators can tell finished runs apart.
    if (!endCommitted) yield* await this.#orStop(this.#commit([], this.#state, true));
    const summary = this.#summary(this.#state, 'completed');
    logger.info(summary.text, { runId, reportSha256: summary.reportSha256 });
    return ok(summary);
  }

  /** The next page; a range's first, when it starts from its beginning, may have been read ahead. */
  #read(after: DocumentCursor | null, evaluated: number): Promise<Result<readonly RawDocument[], BackfillError>> {
    const ahead = this.#firstPage;
    this.#firstPage = undefined;
    return ahead !== undefined && after === null ? ahead.page : readPage(this.#ctx, after, evaluated);
  }

  /** Tells the caller, once, that the range's last page is read. */
  #lastPageRead(): void {
    if (!this.#lastRead) this.#ctx.onLastPageRead?.();
    this.#lastRead = true;
  }

  /** Whether the run may read on: not aborted, and (for a range) not stopped by an earlier range's failure. */
  #mayGoOn(): ResultAsync<void, BackfillError> {
    const { runId, shouldStop, signal } = this.#ctx;
    if (signal?.aborted) return errAsync(abortedRun(runId));
    if (shouldStop === undefined) return okAsync(undefined);
    return ResultAsync.fromPromise(shouldStop(), (e) => toBackfillError(e, 'DB_ERROR', { runId })).andThen((stop) =>
      stop
        ? err(
            new BackfillError('ABORTED', `range ${runId} stopped: an earlier range of its run failed under stopOnError.`, {
              context: { stoppedByEarlierFailure: true },
            }),
          )
        : ok(undefined),
    );
  }

  /** Digests of the batch in flight that it backfills. */
  #committing(): ReadonlySet<string> {
    return new Set(this.#inflight?.list.filter((o) => o.kind === 'backfilled').map((o) => o.doc.digest));
  }

  /** Writes a batch's outcomes and the checkpoint `next` in one transaction. */
  #commit(list: readonly Outcome[], next: RunState, completed = false): Promise<Result<StatementBatchResult, BackfillError>> {
    const { runId, force, checkpointOptions, sink } = this.#ctx;
    // Under force, copies of a digest on one page are each backfilled: the last one's claims are written, as a later page's would replace them.
    const documents = new Map<string, DocumentClaims>();
    const failures = [];
    for (const o of list) {
      if (o.kind === 'backfilled') documents.set(o.doc.digest, { digest: o.doc.digest, format: o.format, claims: o.claims });
      else if (o.kind === 'failed') failures.push(o.failure);
    }
    const checkpoint: BackfillCheckpoint = {
      runId,
      cursor: next.cursor,
      counters: next.counters,
      options: checkpointOptions,
      outcomeSha256: next.outcomeSha256,
      completed,
    };
    return Promise.resolve(sink.commitBatch({ runId, force, documents: [...documents.values()], failures, checkpoint }));
  }

  /** Starts committing a batch; it is settled before the next one is sent. */
  #send(list: readonly Outcome[], next: RunState, completed = false): void {
    const done = this.#commit(list, next, completed);
    done.catch(() => undefined);
    this.#inflight = { done, list, next };
  }

  /** Waits for the batch in flight to commit, then records it, reports progress and throttles. */
  #settle(): ResultAsync<void, BackfillError> {
    const inflight = this.#inflight;
    if (inflight === null) return okAsync(undefined);
    this.#inflight = null;
    return new ResultAsync(inflight.done).andThen(() => this.#throttle(this.#committed(inflight)));
  }

  /** Records a committed batch and reports the run's progress. */
  #committed({ list, next }: InFlight): StatementBackfillProgress {
    const { logger, onProgress, runId } = this.#ctx;
    this.#state = next;
    this.#batches += 1;
    for (const o of list) if (o.kind === 'failed') logger.warn('statement backfill: document failed', { runId, ...o.failure });
    const done = this.#state.counters.evaluated - this.#evaluatedAtStart;
    const rate = done / Math.max((Date.now() - this.#started) / 1000, 1e-3);
    const remaining = this.#remainingAtStart === undefined ? undefined : Math.max(0, this.#remainingAtStart - done);
    const progress: StatementBackfillProgress = {
      runId,
      ...this.#state.counters,
      batches: this.#batches,
      cursor: this.#state.cursor,
      documentsPerSecond: rate,
      ...(remaining === undefined ? {} : { remaining, etaSeconds: rate > 0 ? remaining / rate : 0 }),
    };
    onProgress(progress);
    logger.debug?.('statement backfill: batch committed', { ...progress });
    return progress;
  }

  /** Awaits the caller's throttle; one that throws asks the run to stop (what is committed stays). */
  #throttle(progress: StatementBackfillProgress): ResultAsync<void, BackfillError> {
    const { runId, throttle } = this.#ctx;
    if (throttle === undefined) return okAsync(undefined);
    return ResultAsync.fromThrowable(throttle, (e) => toBackfillError(e, 'ABORTED', { runId }))(progress);
  }

  /** Under `stopOnError`: commits the documents before the failing one, then stops; the failing one stays unprocessed. */
  #stopAtFailure(
    list: readonly Outcome[],
    next: RunState,
    { doc, error }: { readonly doc: DocumentKey; readonly error: BackfillError },
  ): ResultAsync<never, BackfillError<BackfillSummary>> {
    const { logger, runId } = this.#ctx;
    if (list.length > 0) this.#send(list, next);
    return new ResultAsync(this.#orStop(this.#settle())).andThen(() => {
      const failure = failureOf(doc, error);
      logger.error('statement backfill: stopping at the first failure (stopOnError)', { runId, ...failure });
      const { counters } = this.#state;
      const shown: RunState = {
        ...this.#state,
        counters: { ...counters, evaluated: counters.evaluated + 1, failures: counters.failures + 1 },
        failed: withFailures(this.#state.failed, [failure]),
      };
      const stop = new BackfillError(error.code, `stopOnError: ${error.message}`, {
        cause: error,
        context: { digest: doc.digest, stopOnErrorFailure: failure },
      });
      return this.#stop(stop, shown);
    });
  }

  /** A step's result (awaited), its error turned into the run's end by `#stop`. */
  async #orStop<T>(
    step: Result<T, BackfillError> | PromiseLike<Result<T, BackfillError>>,
  ): Promise<Result<T, BackfillError<BackfillSummary>>> {
    const done = await step;
    return done.isOk() ? ok(done.value) : this.#stop(done.error);
  }

  /**
   * Ends the run with `error` once the batch in flight is settled (its own
   * failure wins), with the summary of what is committed (or `shown`) as
   * the error's partial result.
   */
  #stop(error: BackfillError, shown?: RunState): ResultAsync<never, BackfillError<BackfillSummary>> {
    return this.#settle()
      .mapErr((late) => this.#failed(late))
      .andThen(() => err(this.#failed(error, shown)));
  }

  #failed(error: BackfillError, state: RunState = this.#state): BackfillError<BackfillSummary> {
    const located = new BackfillError(error.code, error.message, {
      cause: error.cause ?? error,
      context: { ...error.context, runId: this.#ctx.runId },
      ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
    });
    return located.withPartial(this.#summary(state, 'stopped'));
  }

  #summary(s: RunState, state: SummaryState): BackfillSummary {
    return summaryOf(this.#ctx, this.#resumed, s, state);
  }
}

/** The summary of a run of `ctx` at state `s`. */
function summaryOf(ctx: RunContext, resumed: boolean, s: RunState, state: SummaryState): BackfillSummary {
  return buildSummary({
    runId: ctx.runId,
    resumed,
    state,
    report: {
      schemaVersion: REPORT_SCHEMA_VERSION,
      options: ctx.checkpointOptions,
      counters: s.counters,
      lastCursor: s.cursor,
      outcomeSha256: s.outcomeSha256,
      failed: failuresOf(s.failed),
    },
  });
}
