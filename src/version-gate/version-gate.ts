/**
 * Accepts a client's commit only when it is among the newest commits of a
 * git clone.
 *
 * @module
 */
import { resolve as resolvePath } from 'node:path';
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { silentLogger } from '../_internals/logger.js';
import { inspectCommit, type CommitProblem } from './commit-hash.js';
import {
  DEFAULT_GATE_GIT,
  DEFAULT_GATE_GIT_TIMEOUT_MS,
  DEFAULT_GATE_HEADER,
  DEFAULT_GATE_TTL_MS,
  DEFAULT_GATE_WINDOW,
  MAX_GATE_WINDOW,
} from './defaults.js';
import { createFastifyHook, type GateFastifyHook } from './fastify-hook.js';
import { readRecentCommits } from './git-log.js';
import { createGateMiddleware, type GateMiddleware } from './node-middleware.js';
import type { Accepted, GateRejection, GateStatus } from './types.js';

/**
 * Configuration of a {@link VersionGate}. Validated once and frozen.
 *
 * @example
 * ```ts
 * const config: VersionGateConfig = {
 *   repoPath: '/srv/receiver/code-clone',
 *   remediation: ['cd /srv/lab-agent && git pull --ff-only', 'sudo systemctl restart lab-agent'],
 * };
 * ```
 */
export interface VersionGateConfig {
  /** The git clone whose newest commits are the valid ones. Relative paths resolve against the current directory once, at construction. */
  readonly repoPath: string;
  /**
   * Shell lines an operator pastes on the out-of-date host, as they are.
   * A string is split on newlines.
   */
  readonly remediation: string | readonly string[];
  /**
   * How many of the newest commits are accepted.
   * @defaultValue {@link DEFAULT_GATE_WINDOW} (100)
   */
  readonly window?: number;
  /**
   * How long a loaded commit set is fresh, in ms. After that the next check
   * starts a background refresh and keeps answering from the old set.
   * @defaultValue {@link DEFAULT_GATE_TTL_MS} (5000)
   */
  readonly ttlMs?: number;
  /**
   * `false` accepts every request without running git: the emergency
   * "disable and collect" switch.
   * @defaultValue `true`
   */
  readonly enabled?: boolean;
  /**
   * The request header with the commit (matched case-insensitively).
   * @defaultValue {@link DEFAULT_GATE_HEADER} (`x-code-commit`)
   */
  readonly header?: string;
  /**
   * The git binary to run.
   * @defaultValue {@link DEFAULT_GATE_GIT} (`git`, looked up on `PATH`)
   */
  readonly git?: string;
  /**
   * How long one `git log` may run before it is killed, in ms.
   * @defaultValue {@link DEFAULT_GATE_GIT_TIMEOUT_MS} (10000)
   */
  readonly gitTimeoutMs?: number;
  /**
   * The clock, in ms; only differences between readings matter. Inject one
   * in tests. The default is monotonic, so a wall-clock jump (NTP setting
   * the time on a host without a real-time clock) cannot stall refreshes.
   * @defaultValue `performance.now`
   */
  readonly now?: () => number;
  /**
   * Where refresh failures (once per failure streak) and recoveries go.
   * @defaultValue a logger that discards everything
   */
  readonly logger?: Logger;
}

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

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
const CONTROL_CHARS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * Accepts a client's commit only when it is among the last `window` commits
 * of a git clone (`git -C <repoPath> log --format=%H -n <window>`).
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
  readonly repoPath: string;
  readonly window: number;
  readonly ttlMs: number;
  readonly enabled: boolean;
  /** The header name, lower case. */
  readonly header: string;
  /** The remediation lines joined with `\n`. */
  readonly remediation: string;
  readonly git: string;
  readonly gitTimeoutMs: number;

  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #what: string;
  readonly #abort = new AbortController();
  readonly #unavailable: GateRejection;
  #set: CommitSet | undefined;
  #inflight: Promise<BackfillError | undefined> | undefined;
  #nextRefreshAt = Number.NEGATIVE_INFINITY;
  #failure: BackfillError | undefined;
  #closed = false;

  /**
   * Validates the configuration. Throws a `BackfillError` (`INVALID_ARGUMENT`)
   * for a bad one, since that is a programming error found at startup; use
   * {@link VersionGate.create} for a `Result` instead.
   */
  constructor(config: VersionGateConfig) {
    const c = validateConfig(config);
    if (c.isErr()) throw c.error;
    this.repoPath = c.value.repoPath;
    this.window = c.value.window;
    this.ttlMs = c.value.ttlMs;
    this.enabled = c.value.enabled;
    this.header = c.value.header;
    this.remediation = c.value.remediation;
    this.git = c.value.git;
    this.gitTimeoutMs = c.value.gitTimeoutMs;
    this.#now = config.now ?? (() => performance.now());
    this.#logger = config.logger ?? silentLogger;
    this.#what = `The ${this.header} header`;
    const retryAfter = Math.max(1, Math.ceil(this.ttlMs / 1000));
    this.#unavailable = Object.freeze({
      status: 503,
      code: 'GATE_UNAVAILABLE',
      body: Object.freeze({
        code: 'GATE_UNAVAILABLE',
        message: `The version gate has not loaded its list of recent commits yet; retry in ${retryAfter} s.`,
        remediation: null,
        your_commit: null,
        head_commit: null,
        retry_after_s: retryAfter,
      }),
    });
    Object.freeze(this);
    if (!this.enabled) {
      this.#logger.warn('version gate is disabled: every upload is accepted without a commit check', { repoPath: this.repoPath });
    }
  }

  /**
   * Like `new VersionGate(config)`, but returns the configuration error as a value.
   *
   * @example
   * ```ts
   * const gate = VersionGate.create({ repoPath: '.', remediation: 'git pull' });
   * if (gate.isErr()) console.error(gate.error.message);
   * ```
   */
  static create(config: VersionGateConfig): Result<VersionGate, BackfillError> {
    return validateConfig(config).map(() => new VersionGate(config));
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
    const parsed = inspectCommit(commit, this.#what);
    if (!this.enabled) {
      return ok({ commit: typeof parsed === 'string' ? parsed : null, headCommit: null, behind: null, enforced: false });
    }
    const set = this.#set;
    if (typeof parsed !== 'string') return err(this.#malformed(parsed, set));
    if (this.#inflight === undefined && !this.#closed && this.#now() >= this.#nextRefreshAt) this.#startRefresh();
    if (set === undefined) return err(this.#unavailable);
    const behind = set.index.get(parsed);
    if (behind === undefined) return err(this.#notRecent(parsed, set));
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
    if (!this.enabled || this.#set !== undefined) return okAsync(this.status());
    return this.refresh(options);
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
    if (!this.enabled) return okAsync(this.status());
    if (this.#closed)
      return errAsync(new BackfillError('GATE_UNAVAILABLE', 'The version gate is closed.', { context: { path: this.repoPath } }));
    const run = this.#inflight ?? this.#startRefresh();
    return new ResultAsync(abortable(run, options.signal).then((outcome) => (outcome === undefined ? ok(this.status()) : err(outcome))));
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
    return {
      enabled: this.enabled,
      loaded: set !== undefined,
      headCommit: set?.head ?? null,
      size: set?.index.size ?? 0,
      loadedAt: set?.loadedAt ?? null,
      failing: this.#failure !== undefined,
      lastError: this.#failure?.message ?? null,
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
    return createGateMiddleware(this);
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
    return createFastifyHook(this);
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

  #startRefresh(): Promise<BackfillError | undefined> {
    const attemptAt = this.#now();
    const request = {
      git: this.git,
      repoPath: this.repoPath,
      window: this.window,
      timeoutMs: this.gitTimeoutMs,
      signal: this.#abort.signal,
    };
    // Spawning blocks the event loop for milliseconds; do it on the next turn
    // so the check that noticed the stale set still answers in microseconds.
    const run = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => readRecentCommits(request))
      .then((outcome) => this.#finishRefresh(attemptAt, outcome));
    this.#inflight = run;
    return run;
  }

  #finishRefresh(attemptAt: number, outcome: readonly string[] | BackfillError): BackfillError | undefined {
    this.#inflight = undefined;
    this.#nextRefreshAt = attemptAt + this.ttlMs;
    if (outcome instanceof BackfillError) {
      this.#recordFailure(outcome);
      return outcome;
    }
    const index = new Map(outcome.map((hash, behind) => [hash, behind] as const));
    this.#set = { index, head: outcome[0]!, loadedAt: attemptAt };
    if (this.#failure !== undefined) {
      this.#logger.info('version gate: commit refresh recovered', { repoPath: this.repoPath, headCommit: outcome[0] });
      this.#failure = undefined;
    }
    return undefined;
  }

  #recordFailure(error: BackfillError): void {
    if (this.#closed) return;
    const firstOfStreak = this.#failure === undefined;
    this.#failure = error;
    const fields = { repoPath: this.repoPath, keptCommits: this.#set?.index.size ?? 0 };
    if (firstOfStreak) {
      const kept = this.#set === undefined ? 'no commit set is loaded, so uploads get 503' : 'keeping the previous commit set';
      this.#logger.error(`version gate: commit refresh failed (${kept}): ${error.message}`, fields);
    } else {
      this.#logger.debug?.(`version gate: commit refresh still failing: ${error.message}`, fields);
    }
  }

  #malformed(problem: CommitProblem, set: CommitSet | undefined): GateRejection {
    return {
      status: 400,
      code: problem.code,
      body: {
        code: problem.code,
        message: problem.message,
        remediation: this.remediation,
        your_commit: problem.value,
        head_commit: set?.head ?? null,
      },
    };
  }

  #notRecent(commit: string, set: CommitSet): GateRejection {
    return {
      status: 412,
      code: 'COMMIT_NOT_RECENT',
      body: {
        code: 'COMMIT_NOT_RECENT',
        message: `Commit ${commit} is not among the ${this.window} most recent commits (head is ${set.head}). Update this host with the remediation, then ship again.`,
        remediation: this.remediation,
        your_commit: commit,
        head_commit: set.head,
      },
    };
  }
}

interface ValidConfig {
  repoPath: string;
  window: number;
  ttlMs: number;
  enabled: boolean;
  header: string;
  remediation: string;
  git: string;
  gitTimeoutMs: number;
}

function validateConfig(config: VersionGateConfig): Result<ValidConfig, BackfillError> {
  const bad = (message: string): Result<ValidConfig, BackfillError> => err(new BackfillError('INVALID_ARGUMENT', message));
  const {
    repoPath,
    window = DEFAULT_GATE_WINDOW,
    ttlMs = DEFAULT_GATE_TTL_MS,
    enabled = true,
    header = DEFAULT_GATE_HEADER,
    git = DEFAULT_GATE_GIT,
  } = config;
  const gitTimeoutMs = config.gitTimeoutMs ?? DEFAULT_GATE_GIT_TIMEOUT_MS;
  if (typeof repoPath !== 'string' || repoPath === '' || repoPath.includes('\0')) return bad('`repoPath` must be a non-empty path.');
  if (!Number.isInteger(window) || window < 1 || window > MAX_GATE_WINDOW)
    return bad(`\`window\` must be an integer from 1 to ${MAX_GATE_WINDOW}; got ${String(window)}.`);
  if (!Number.isFinite(ttlMs) || ttlMs < 0) return bad(`\`ttlMs\` must be a finite number of ms, 0 or more; got ${String(ttlMs)}.`);
  if (!Number.isFinite(gitTimeoutMs) || gitTimeoutMs <= 0)
    return bad(`\`gitTimeoutMs\` must be a positive number of ms; got ${String(gitTimeoutMs)}.`);
  if (typeof enabled !== 'boolean') return bad('`enabled` must be true or false.');
  if (typeof header !== 'string' || !HEADER_TOKEN.test(header))
    return bad(`\`header\` must be an HTTP header name; got ${JSON.stringify(header)}.`);
  if (typeof git !== 'string' || git === '' || git.includes('\0')) return bad('`git` must be the name or path of the git binary.');
  const remediation = normalizeRemediation(config.remediation);
  if (remediation === undefined) {
    return bad(
      '`remediation` must be one or more shell lines (a string or an array of strings) without control characters other than tabs.',
    );
  }
  return ok({ repoPath: resolvePath(repoPath), window, ttlMs, enabled, header: header.toLowerCase(), remediation, git, gitTimeoutMs });
}

function normalizeRemediation(value: unknown): string | undefined {
  const lines =
    typeof value === 'string' ? value.replace(/\r\n/g, '\n').split('\n') : Array.isArray(value) ? [...(value as unknown[])] : [];
  if (!lines.every((line): line is string => typeof line === 'string' && !CONTROL_CHARS.test(line))) return undefined;
  // Blank lines at either end are formatting, not commands.
  while (lines.length > 0 && (lines[0] as string).trim() === '') lines.shift();
  while (lines.length > 0 && (lines[lines.length - 1] as string).trim() === '') lines.pop();
  return lines.length === 0 ? undefined : lines.join('\n');
}

/** Waits for `promise`, or resolves an `ABORTED` error when `signal` fires first. */
function abortable(promise: Promise<BackfillError | undefined>, signal: AbortSignal | undefined): Promise<BackfillError | undefined> {
  if (signal === undefined) return promise;
  const aborted = (): BackfillError => new BackfillError('ABORTED', 'Stopped waiting for the commit refresh.', { cause: signal.reason });
  if (signal.aborted) return Promise.resolve(aborted());
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then((outcome) => {
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    });
  });
}
