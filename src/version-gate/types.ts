/**
 * The values a {@link VersionGate} check returns.
 *
 * @module
 */

/**
 * A commit the gate let through.
 *
 * @example
 * ```ts
 * const r = gate.check(req.headers['x-code-commit']);
 * if (r.isOk() && r.value.enforced) console.log(`${r.value.commit} is ${r.value.behind} behind head`);
 * ```
 */
export interface Accepted {
  /** The lower-case commit, or `null` when a disabled gate let a missing or malformed value through. */
  readonly commit: string | null;
  /** The newest commit of the clone, or `null` when the gate is disabled. */
  readonly headCommit: string | null;
  /** How many commits the accepted one is behind head (0 = head); `null` when the gate is disabled. */
  readonly behind: number | null;
  /** `false` when the gate is disabled and accepted without looking. */
  readonly enforced: boolean;
}

/**
 * The codes a {@link GateRejection} carries (all from `ERROR_CODES`).
 *
 * @example
 * ```ts
 * const code: GateRejectionCode = 'COMMIT_NOT_RECENT';
 * console.log(ERROR_CODES[code].fix);
 * ```
 */
export type GateRejectionCode = 'COMMIT_MISSING' | 'COMMIT_MALFORMED' | 'COMMIT_NOT_RECENT' | 'GATE_UNAVAILABLE';

/**
 * The JSON an HTTP layer sends with a rejection. Keys are snake_case because
 * shippers in other languages read them.
 *
 * @example
 * ```json
 * { "code": "COMMIT_NOT_RECENT", "message": "…", "remediation": "cd /opt/app && git pull", "your_commit": "0a1b…", "head_commit": "9f8e…" }
 * ```
 */
export interface GateRejectionBody {
  readonly code: GateRejectionCode;
  readonly message: string;
  /** Shell lines the operator pastes as they are; `null` on 503, where the fix is to retry. */
  readonly remediation: string | null;
  /** The commit the client sent (cut to 100 characters), or `null` when none was sent. */
  readonly your_commit: string | null;
  /** The newest commit of the clone, or `null` when the gate has no commit set. */
  readonly head_commit: string | null;
  /** On 503: seconds after which a retry makes sense. */
  readonly retry_after_s?: number;
}

/**
 * Why the gate refused: 400 (missing or malformed commit), 412 (not among the
 * recent commits) or 503 (the gate has no commit set yet). Clients treat 400
 * and 412 as fatal and 503 as retryable (see {@link classifyGateResponse}).
 *
 * @example
 * ```ts
 * const r = gate.check(commit);
 * if (r.isErr()) res.writeHead(r.error.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.error.body));
 * ```
 */
export interface GateRejection {
  readonly status: 400 | 412 | 503;
  readonly code: GateRejectionCode;
  readonly body: GateRejectionBody;
}

/**
 * What the gate currently holds, for health endpoints and logs.
 *
 * @example
 * ```ts
 * app.get('/healthz', (_req, res) => res.json(gate.status()));
 * ```
 */
export interface GateStatus {
  readonly enabled: boolean;
  /** True once a commit set has loaded. */
  readonly loaded: boolean;
  readonly headCommit: string | null;
  /** How many commits the set holds. */
  readonly size: number;
  /** The gate clock's reading (`now`, monotonic by default) at the last successful load, or `null`. */
  readonly loadedAt: number | null;
  /** True while refreshes keep failing (the old set is still served). */
  readonly failing: boolean;
  /** The message of the latest failed refresh in the current streak, or `null`. */
  readonly lastError: string | null;
  readonly closed: boolean;
}
