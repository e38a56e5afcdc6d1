/**
 * A {@link VersionGate}'s configuration, resolved and validated once into a
 * frozen context.
 *
 * @module
 */
import { resolve as resolvePath } from 'node:path';
import { err, ok, type Result, safeTry } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { MAX_TIMER_MS } from '../_internals/milliseconds.js';
import {
  DEFAULT_GATE_GIT,
  DEFAULT_GATE_GIT_TIMEOUT_MS,
  DEFAULT_GATE_HEADER,
  DEFAULT_GATE_TTL_MS,
  DEFAULT_GATE_WINDOW,
  MAX_GATE_WINDOW,
} from './defaults.js';
import type { GateRejection } from './types.js';

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
   * How long one `git log` may run before it is killed, in whole ms (1 to 2^31 - 1, about 24.8 days).
   * @defaultValue {@link DEFAULT_GATE_GIT_TIMEOUT_MS} (10000)
   */
  readonly gitTimeoutMs?: number;
  /**
   * The clock, in ms; only differences between readings matter. Inject one
   * in tests. The default is monotonic, so a wall-clock jump (NTP setting
   * the time on a host without a real-time clock) cannot stall refreshes.
   * An injected clock that steps back (a wall clock such as `Date.now`)
   * makes the next check refresh at once.
   * @defaultValue `performance.now`
   */
  readonly now?: () => number;
  /**
   * Where refresh failures (once per failure streak) and recoveries go.
   * A call that throws is ignored (the line is lost, the gate goes on).
   * @defaultValue a logger that discards everything
   */
  readonly logger?: Logger;
}

/**
 * What a valid {@link VersionGateConfig} resolves to, as
 * {@link VersionGate.settings} reports it.
 *
 * @example
 * ```ts
 * const settings = gate.settings();
 * if (settings.isOk()) console.log(settings.value.repoPath, settings.value.window);
 * ```
 */
export interface GateSettings {
  /** The clone, as an absolute path. */
  readonly repoPath: string;
  readonly window: number;
  readonly ttlMs: number;
  readonly enabled: boolean;
  /** The header name, lower case. */
  readonly header: string;
  /** The remediation lines joined with `\n`, blank lines at either end removed. */
  readonly remediation: string;
  readonly git: string;
  readonly gitTimeoutMs: number;
}

/** The settings plus what the gate derives from them once. @internal */
export interface GateContext extends GateSettings {
  readonly now: () => number;
  readonly logger: Logger;
  /** Names the header in messages. */
  readonly what: string;
  /** The 503 answered before any commit set has loaded. */
  readonly unavailable: GateRejection;
}

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;
const CONTROL_CHARS = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function unavailable(retryAfter: number, message: string): GateRejection {
  return Object.freeze({
    status: 503,
    code: 'GATE_UNAVAILABLE',
    body: Object.freeze({
      code: 'GATE_UNAVAILABLE',
      message,
      remediation: null,
      your_commit: null,
      head_commit: null,
      retry_after_s: retryAfter,
    }),
  });
}

/**
 * The 503 of a gate whose configuration is invalid: it never accepts
 * blindly. The body stays generic; `ready()` and `status()` give the reason.
 *
 * @internal
 */
export const MISCONFIGURED: GateRejection = unavailable(
  Math.ceil(DEFAULT_GATE_TTL_MS / 1000),
  'The version gate on the receiver is not configured correctly; retry later.',
);

function normalizeRemediation(value: unknown): string | undefined {
  const lines =
    typeof value === 'string' ? value.replace(/\r\n/g, '\n').split('\n') : Array.isArray(value) ? [...(value as unknown[])] : [];
  if (!lines.every((line): line is string => typeof line === 'string' && !CONTROL_CHARS.test(line))) return undefined;
  // Blank lines at either end are formatting, not commands.
  while (lines.length > 0 && (lines[0] as string).trim() === '') lines.shift();
  while (lines.length > 0 && (lines[lines.length - 1] as string).trim() === '') lines.pop();
  return lines.length === 0 ? undefined : lines.join('\n');
}

function check<T>(valid: boolean, value: T, message: string): Result<T, BackfillError> {
  return valid ? ok(value) : err(new BackfillError('INVALID_ARGUMENT', message));
}

/** Resolves the configuration once: `INVALID_ARGUMENT` naming the first bad option. @internal */
export function resolveGateConfig(config: VersionGateConfig): Result<Readonly<GateContext>, BackfillError> {
  if (typeof config !== 'object' || config === null)
    return err(new BackfillError('INVALID_ARGUMENT', 'The version gate needs a configuration object.'));
  return safeTry(function* () {
    const {
      repoPath,
      window = DEFAULT_GATE_WINDOW,
      ttlMs = DEFAULT_GATE_TTL_MS,
      enabled = true,
      header = DEFAULT_GATE_HEADER,
      git = DEFAULT_GATE_GIT,
      gitTimeoutMs = DEFAULT_GATE_GIT_TIMEOUT_MS,
    } = config;
    yield* check(
      typeof repoPath === 'string' && repoPath !== '' && !repoPath.includes('\0'),
      repoPath,
      '`repoPath` must be a non-empty path.',
    );
    yield* check(
      Number.isInteger(window) && window >= 1 && window <= MAX_GATE_WINDOW,
      window,
      `\`window\` must be an integer from 1 to ${MAX_GATE_WINDOW}; got ${String(window)}.`,
    );
    yield* check(Number.isFinite(ttlMs) && ttlMs >= 0, ttlMs, `\`ttlMs\` must be a finite number of ms, 0 or more; got ${String(ttlMs)}.`);
    yield* check(
      Number.isInteger(gitTimeoutMs) && gitTimeoutMs >= 1 && gitTimeoutMs <= MAX_TIMER_MS,
      gitTimeoutMs,
      `\`gitTimeoutMs\` must be a whole number of ms from 1 to ${MAX_TIMER_MS} (about 24.8 days); got ${String(gitTimeoutMs)}.`,
    );
    yield* check(typeof enabled === 'boolean', enabled, '`enabled` must be true or false.');
    yield* check(
      typeof header === 'string' && HEADER_TOKEN.test(header),
      header,
      `\`header\` must be an HTTP header name; got ${JSON.stringify(header)}.`,
    );
    yield* check(typeof git === 'string' && git !== '' && !git.includes('\0'), git, '`git` must be the name or path of the git binary.');
    const remediation = normalizeRemediation(config.remediation);
    if (remediation === undefined) {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          '`remediation` must be one or more shell lines (a string or an array of strings) without control characters other than tabs.',
        ),
      );
    }
    const retryAfter = Math.max(1, Math.ceil(ttlMs / 1000));
    const lowerHeader = header.toLowerCase();
    return ok(
      Object.freeze({
        repoPath: resolvePath(repoPath),
        window,
        ttlMs,
        enabled,
        header: lowerHeader,
        remediation,
        git,
        gitTimeoutMs,
        now: config.now ?? (() => performance.now()),
        logger: loggerOf(config.logger),
        what: `The ${lowerHeader} header`,
        unavailable: unavailable(retryAfter, `The version gate has not loaded its list of recent commits yet; retry in ${retryAfter} s.`),
      }),
    );
  });
}
