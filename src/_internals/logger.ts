/**
 * The logger the library writes to. `console`, pino and winston all fit.
 * Nothing is logged unless the caller passes one.
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
