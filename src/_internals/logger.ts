/**
 * The logger the library writes to. `console`, pino and winston all fit.
 * Nothing is logged unless the caller passes one.
 */
export interface Logger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
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
