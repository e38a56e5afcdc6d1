/**
 * Accepts a client's commit only when it is among the newest commits of a
 * git clone.
 *
 * @module
 */
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { inspectCommit, type CommitProblem } from './commit-hash.js';
import { MISCONFIGURED, resolveGateConfig, type GateContext, type GateSettings, type VersionGateConfig } from './config.js';
import { createFastifyHook, type GateFastifyHook } from './fastify-hook.js';
import { hasShallowFile, readRecentCommits } from './git-log.js';
import { createGateMiddleware, type GateMiddleware } from './node-middleware.js';
import type { Accepted, GateRejection, GateStatus } from './types.js';

/**
 * Options of {@link VersionGate.ready} and {@link VersionGate.refresh}.
 *
 * @example
 * ```ts
 * await gate.ready({ signal: AbortSignal.timeout(15_000) });
 * ```
 */
export interface GateWaitOptions {
  /** Stops waiting (the shared git run carries on for other callers). */
  readonly signal?: AbortSignal;
}

interface CommitSet {
  /** Commit → how many commits it is behind head. */
  readonly index: ReadonlyMap<string, number>;
  readonly head: string;
  readonly loadedAt: number;
}

/** One refresh: `ok` once the new set is in place, or why git failed. */
type Refresh = Promise<Result<void, BackfillError>>;

/**
 * Accepts a client's commit only when it is among the last `window` commits
 * of a git clone (`git --no-replace-objects -C <repoPath> log --format=%H -n <window>`).
 *
 * - {@link VersionGate.check} is synchronous and answers from a cached set.
 *   When the set is older than `ttlMs` it starts one background refresh
 *   (single-flight: at most one git process however many checks arrive) and
 *   keeps answering from the old set meanwhile (stale-while-revalidate).
 * - Before any set has loaded, `check` answers 503 `GATE_UNAVAILABLE` (it
 *   never accepts blindly) and starts the first load;
 *   {@link VersionGate.checkAsync} and the HTTP adapters instead wait for
 *   that load. Call {@link VersionGate.ready} at startup to fail fast.
 * - When a refresh fails, the old set stays until one succeeds; the failure
 *   is logged once per failure streak, and retried at most once per `ttlMs`.
 *
 * @example
 * ```ts
 * const gate = new VersionGate({
 *   repoPath: '/srv/receiver/code-clone',
 *   remediation: [
 *     'cd /srv/lab-agent && sudo -u lab git pull --ff-only origin main',
 *     'sudo systemctl restart lab-agent',
 *   ],
 * });
 * const loaded = await gate.ready();
 * if (loaded.isErr()) console.error(loaded.error.message);
 * const verdict = gate.check(req.headers['x-code-commit']);
 * if (verdict.isErr()) res.writeHead(verdict.error.status).end(JSON.stringify(verdict.error.body));
 * ```
 */
export class VersionGate implements AsyncDisposable {
  readonly #context: Result<Readonly<GateContext>, BackfillError>;
  readonly #abort = new AbortController();
  #set: CommitSet | undefined;
  #inflight: Refresh | undefined;
  #nextRefreshAt = Number.NEGATIVE_INFINITY;
  /** When the last refresh started: a clock reading before it means the clock was stepped back. */
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #failure: BackfillError | undefined;
  #closed = false;
  #shallowWarned = false;

  /**
   * Resolves and validates the configuration once. It never throws: with an
   * invalid configuration, `ready()`, `refresh()` and
   * {@link VersionGate.settings} return the error (`INVALID_ARGUMENT`),
   * `status()` shows it as `lastError`, and every check answers 503
   * `GATE_UNAVAILABLE`, never a blind accept.
   */
  constructor(config: VersionGateConfig) {
    this.#context = resolveGateConfig(config);
    Object.freeze(this);
    if (this.#context.isOk() && !this.#context.value.enabled) {
      const { logger, repoPath } = this.#context.value;
      logger.warn('version gate is disabled: every upload is accepted without a commit check', { repoPath });
    }
  }

  /**
   * The resolved configuration, or the error that makes it invalid.
   *
   * @example
   * ```ts
   * const settings = gate.settings();
   * if (settings.isErr()) throw settings.error; // INVALID_ARGUMENT, at startup
   * console.log(`gating on ${settings.value.header}, window ${settings.value.window}`);
   * ```
   */
  settings(): Result<Readonly<GateSettings>, BackfillError> {
    return this.#context.map(({ repoPath, window, ttlMs, enabled, header, remediation, git, gitTimeoutMs }) =>
      Object.freeze({ repoPath, window, ttlMs, enabled, header, remediation, git, gitTimeoutMs }),
    );
  }

  /**
   * Checks one commit, synchronously, from the cached set. `commit` is the
   * raw header value (`string`, `string[]` or `undefined`, as node:http
   * gives it) or a plain string.
   *
   * @example
   * ```ts
   * const r = gate.check('0a1b2c…');
   * r.match(
   *   (accepted) => ingest(accepted.commit),
   *   (rejection) => reply(rejection.status, rejection.body),
   * );
   * ```
   */
  check(commit: unknown): Result<Accepted, GateRejection> {
    if (this.#context.isErr()) return err(MISCONFIGURED);
    const ctx = this.#context.value;
    const parsed = inspectCommit(commit, ctx.what);
    if (!ctx.enabled) {
      return ok({ commit: typeof parsed === 'string' ? parsed : null, headCommit: null, behind: null, enforced: false });
    }
    const set = this.#set;
    if (typeof parsed !== 'string') return err(this.#malformed(ctx, parsed, set));
    if (this.#inflight === undefined && !this.#closed && this.#refreshDue(ctx)) this.#startRefresh(ctx);
    if (set === undefined) return err(ctx.unavailable);
    const behind = set.index.get(parsed);
    if (behind === undefined) return err(this.#notRecent(ctx, parsed, set));
    return ok({ commit: parsed, headCommit: set.head, behind, enforced: true });
  }

  /**
   * Like {@link VersionGate.check}, but when the answer would be 503 or 412
   * while a refresh is running (the first load, or a refresh of a stale
   * set), it waits for that refresh and checks again. Accepted commits never
   * wait. The HTTP adapters use this.
   *
   * @example
   * ```ts
   * const r = await gate.checkAsync(req.headers['x-code-commit']);
   * ```
   */
  checkAsync(commit: unknown): ResultAsync<Accepted, GateRejection> {
    const first = this.check(commit);
    const inflight = this.#inflight;
    if (first.isOk() || first.error.status === 400 || inflight === undefined) {
      return new ResultAsync(Promise.resolve(first));
    }
    return new ResultAsync(inflight.then(() => this.check(commit)));
  }

  /**
   * Resolves once a commit set is loaded, loading it if needed (or at once
   * when the gate is disabled). The error says why git failed.
   *
   * @example
   * ```ts
   * const r = await gate.ready();
   * if (r.isErr()) logger.error(r.error.message); // GATE_UNAVAILABLE
   * ```
   */
  ready(options: GateWaitOptions = {}): ResultAsync<GateStatus, BackfillError> {
    return this.#context.asyncAndThen((ctx) => (!ctx.enabled || this.#set !== undefined ? okAsync(this.status()) : this.refresh(options)));
  }

  /**
   * Reloads the commit set now, ignoring the TTL, or joins the refresh that
   * is already running. A failure keeps the old set.
   *
   * @example
   * ```ts
   * await gate.refresh(); // e.g. from a post-merge hook
   * ```
   */
  refresh(options: GateWaitOptions = {}): ResultAsync<GateStatus, BackfillError> {
    return this.#context.asyncAndThen((ctx) => {
      if (!ctx.enabled) return okAsync(this.status());
      if (this.#closed)
        return errAsync(new BackfillError('GATE_UNAVAILABLE', 'The version gate is closed.', { context: { path: ctx.repoPath } }));
      const run = this.#inflight ?? this.#startRefresh(ctx);
      return new ResultAsync(abortable(run, options.signal)).map(() => this.status());
    });
  }

  /**
   * What the gate holds right now.
   *
   * @example
   * ```ts
   * const { loaded, headCommit, failing } = gate.status();
   * ```
   */
  status(): GateStatus {
    const set = this.#set;
    const failure = this.#context.isErr() ? this.#context.error : this.#failure;
    return {
      enabled: this.#context.map((ctx) => ctx.enabled).unwrapOr(true),
      loaded: set !== undefined,
      headCommit: set?.head ?? null,
      size: set?.index.size ?? 0,
      loadedAt: set?.loadedAt ?? null,
      failing: failure !== undefined,
      lastError: failure?.message ?? null,
      closed: this.#closed,
    };
  }

  /**
   * A `(req, res, next)` middleware for node:http and Express. Rejections
   * get their JSON body and status; accepted requests go on to `next()`,
   * and {@link acceptedCommit} gives the handler the verdict.
   *
   * @example
   * ```ts
   * const gated = gate.middleware();
   * http.createServer((req, res) => gated(req, res, () => handleUpload(req, res)));
   * ```
   */
  middleware(): GateMiddleware {
    return createGateMiddleware(this, this.#header());
  }

  /**
   * A Fastify `onRequest` / `preHandler` hook with the same behaviour as
   * {@link VersionGate.middleware}.
   *
   * @example
   * ```ts
   * fastify.addHook('onRequest', gate.fastifyHook());
   * ```
   */
  fastifyHook(): GateFastifyHook {
    return createFastifyHook(this, this.#header());
  }

  /** The header the adapters read; none for an invalid configuration, whose checks all answer 503. */
  #header(): string | undefined {
    return this.#context.map((ctx) => ctx.header).unwrapOr(undefined);
  }

  /**
   * Stops refreshing and kills a running git. Later checks answer from the
   * last loaded set (or 503 if none loaded).
   *
   * @example
   * ```ts
   * await gate.close();
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    const inflight = this.#inflight;
    this.#abort.abort();
    await inflight;
  }

  /**
   * Same as {@link VersionGate.close}, for `await using`.
   *
   * @example
   * ```ts
   * await using gate = new VersionGate({ repoPath: '.', remediation: 'git pull' });
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Whether the set is older than `ttlMs` (or a failed refresh is due for a
   * retry). A reading earlier than the last refresh's start means the clock
   * was stepped back (an injected wall clock such as `Date.now`): the set's
   * age is unknown then, so it is due at once, rather than once the clock
   * has caught up with the old time (an hour of 412s for new commits after
   * a step back of an hour).
   */
  #refreshDue(ctx: GateContext): boolean {
    const now = ctx.now();
    return now >= this.#nextRefreshAt || now < this.#lastAttemptAt;
  }

  #startRefresh(ctx: GateContext): Refresh {
    const attemptAt = ctx.now();
    const request = { git: ctx.git, repoPath: ctx.repoPath, window: ctx.window, timeoutMs: ctx.gitTimeoutMs, signal: this.#abort.signal };
    // Spawning blocks the event loop for milliseconds; do it on the next turn
    // so the check that noticed the stale set still answers in microseconds.
    const run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => readRecentCommits(request))
      .then(async (outcome) => {
        if (outcome.isOk()) await this.#warnIfShallow(ctx, outcome.value.length);
        return this.#finishRefresh(ctx, attemptAt, outcome);
      });
    this.#inflight = run;
    return run;
  }

  /**
   * Warns once when the clone is shallow and holds fewer commits than the
   * window: a recent commit from before its cut is refused as not recent.
   */
  async #warnIfShallow(ctx: GateContext, held: number): Promise<void> {
    if (this.#shallowWarned || held >= ctx.window || !(await hasShallowFile(ctx.repoPath))) return;
    this.#shallowWarned = true;
    ctx.logger.warn(
      `version gate: ${ctx.repoPath} is a shallow clone holding only ${held} commit${held === 1 ? '' : 's'}, fewer than the window of ${ctx.window}; recent commits from before its cut are refused as not recent. Deepen it (git -C ${ctx.repoPath} fetch --unshallow).`,
      { repoPath: ctx.repoPath, keptCommits: held, window: ctx.window },
    );
  }

  #finishRefresh(ctx: GateContext, attemptAt: number, outcome: Result<readonly string[], BackfillError>): Result<void, BackfillError> {
    this.#inflight = undefined;
    this.#nextRefreshAt = attemptAt + ctx.ttlMs;
    this.#lastAttemptAt = attemptAt;
    return outcome.match(
      (hashes) => {
        const index = new Map(hashes.map((hash, behind) => [hash, behind] as const));
        this.#set = { index, head: hashes[0]!, loadedAt: attemptAt };
        if (this.#failure !== undefined) {
          ctx.logger.info('version gate: commit refresh recovered', { repoPath: ctx.repoPath, headCommit: hashes[0] });
          this.#failure = undefined;
        }
        return ok(undefined);
      },
      (error) => {
        this.#recordFailure(ctx, error);
        return err(error);
      },
    );
  }

  #recordFailure(ctx: GateContext, error: BackfillError): void {
    if (this.#closed) return;
    const firstOfStreak = this.#failure === undefined;
    this.#failure = error;
    const fields = { repoPath: ctx.repoPath, keptCommits: this.#set?.index.size ?? 0 };
    if (firstOfStreak) {
      const kept = this.#set === undefined ? 'no commit set is loaded, so uploads get 503' : 'keeping the previous commit set';
      ctx.logger.error(`version gate: commit refresh failed (${kept}): ${error.message}`, fields);
    } else {
      ctx.logger.debug?.(`version gate: commit refresh still failing: ${error.message}`, fields);
    }
  }

  #malformed(ctx: GateContext, problem: CommitProblem, set: CommitSet | undefined): GateRejection {
    return {
      status: 400,
      code: problem.code,
      body: {
        code: problem.code,
        message: problem.message,
        remediation: ctx.remediation,
        your_commit: problem.value,
        head_commit: set?.head ?? null,
      },
    };
  }

  #notRecent(ctx: GateContext, commit: string, set: CommitSet): GateRejection {
    return {
      status: 412,
      code: 'COMMIT_NOT_RECENT',
      body: {
        code: 'COMMIT_NOT_RECENT',
        message: `Commit ${commit} is not among the ${ctx.window} most recent commits (head is ${set.head}). Update this host with the remediation, then ship again.`,
        remediation: ctx.remediation,
        your_commit: commit,
        head_commit: set.head,
      },
    };
  }
}

/** Waits for `refresh`, or ends with `ABORTED` when `signal` fires first (the refresh carries on for other callers). */
function abortable(refresh: Refresh, signal: AbortSignal | undefined): Refresh {
  if (signal === undefined) return refresh;
  const aborted = (): Result<void, BackfillError> =>
    err(new BackfillError('ABORTED', 'Stopped waiting for the commit refresh.', { cause: signal.reason }));
  if (signal.aborted) return Promise.resolve(aborted());
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    void refresh.then((outcome) => {
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    });
  });
}
