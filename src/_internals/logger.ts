/**
 * The logger the library writes to. `console`, pino and winston all fit.
 * Nothing is logged unless the caller passes one. A call that throws (a
 * closed or full destination) loses its line and nothing else: the work it
 * reports on goes on, and its outcome is the same as with no logger.
 *
 * @example
 * ```ts
 * const gate = new VersionGate({ repoPath: '/srv/repo', logger: console });
 * ```
 */
export interface Logger {
  /** Detail for troubleshooting; optional. */
  debug?(message: string, fields?: Record<string, unknown>): void;
  /** Progress and outcomes. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something was skipped or retried; the operation goes on. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something failed. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that discards everything. */
export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
};

/** Throws the signal's reason (as an AbortError) when it has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const error = new Error('The operation was aborted.');
    error.name = 'AbortError';
    throw error;
  }
}

/**
 * The logger a call writes to: the caller's `given`, with calls that cannot
 * throw, or `fallback` when none was given. Every module resolves its
 * logger option with this. A log sink that throws (closed, full) must not
 * stop or fail the work it is told about, such as the partitions a daily
 * job makes or a version gate's refresh that every request awaits: a log
 * line is not worth it.
 */
export function loggerOf(given: Logger | undefined, fallback: Logger = silentLogger): Logger {
  return given === undefined ? fallback : neverThrowing(given);
}

function neverThrowing(logger: Logger): Logger {
  const guard =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: Record<string, unknown>): void => {
      try {
        logger[method]?.(message, fields);
      } catch {
        // The line is lost; the work goes on.
      }
    };
  return { debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') };
}
