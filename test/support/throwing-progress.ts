import type { Logger } from '../../src/_internals/logger.js';

/** An `onProgress` that has failed: every report it is given throws, after it is noted in `seen`. */
export function throwingProgress<P>(seen: P[] = []): (progress: P) => void {
  return (progress) => {
    seen.push(progress);
    throw new Error('progress bar closed: write EPIPE');
  };
}

/** An async `onProgress` whose every report rejects, after it is noted in `seen` (the option's type lets one through). */
export function rejectingProgress<P>(seen: P[] = []): (progress: P) => void {
  return async (progress) => {
    seen.push(progress);
    throw new Error('progress service unreachable');
  };
}

/** A logger that keeps each warning's message and drops everything else. */
export function warningsLogger(warnings: string[]): Logger {
  return { info() {}, warn: (message) => void warnings.push(message), error() {} };
}
