/**
 * The progress callbacks a caller gives, resolved once like its logger.
 *
 * @internal
 * @module
 */
import type { Logger } from './logger.js';

/** What {@link progressOf} returns: call it with each report; it never throws. */
export type ProgressReporter<P> = (progress: P) => void;

/** The reporter of a call given no `onProgress`: it does nothing. */
export const noProgress: (progress: unknown) => void = () => undefined;

/**
 * The callback a call reports its progress to: the caller's `given`, wrapped
 * so that it cannot throw, or a no-op when none was given. Every module
 * resolves its `onProgress` option with this, once, next to its logger. A
 * callback that throws (a progress bar whose terminal has gone, a metrics
 * push that failed), or an async one whose promise rejects, must not stop
 * or fail the work it is told about, least of all after that work has
 * committed: the throw is dropped, the first one is logged at warn level
 * through `logger` (which must be resolved, so it cannot throw either), and
 * later reports still go to the callback.
 *
 * @param what - the call, as the warning names it (`staging import`, `ensure`).
 */
export function progressOf<P>(given: ((progress: P) => void) | undefined, logger: Logger, what: string): ProgressReporter<P> {
  if (given === undefined) return noProgress;
  let warned = false;
  const dropped = (thrown: unknown): void => {
    if (warned) return;
    warned = true;
    logger.warn(`${what}: onProgress threw (or its promise rejected); ignored: the work goes on, and later reports still go to it`, {
      error: describe(thrown),
    });
  };
  return (progress) => {
    try {
      // The option's type says `void`, but an async function fits it: its rejection is dropped too, not left unhandled.
      const returned: unknown = given(progress);
      if (isThenable(returned)) returned.then(undefined, dropped);
    } catch (thrown) {
      dropped(thrown);
    }
  };
}

/** What was thrown, as text; a value that cannot even be printed does not throw again here. */
function describe(thrown: unknown): string {
  try {
    return thrown instanceof Error ? thrown.message : String(thrown);
  } catch {
    return 'a value that cannot be printed';
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
