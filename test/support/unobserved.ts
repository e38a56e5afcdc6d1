import { afterAll } from 'vitest';

/** What the process reported with nobody else listening, collected while a test file runs. */
export interface Unobserved {
  /** Rejections no handler was attached to in time ('unhandledRejection'). */
  readonly rejections: unknown[];
  /** Errors thrown or emitted with no listener ('uncaughtException'): an 'error' event nobody listens to lands here. */
  readonly exceptions: unknown[];
}

/**
 * Listens, until the end of the test file, for the failures that end a Node
 * process with no handler for them, so that a test can say none happened.
 * Settle what the test started (a few turns of the event loop) before
 * looking.
 */
export function collectUnobserved(): Unobserved {
  const unobserved: Unobserved = { rejections: [], exceptions: [] };
  const onRejection = (reason: unknown): void => {
    unobserved.rejections.push(reason);
  };
  const onException = (error: unknown): void => {
    unobserved.exceptions.push(error);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  afterAll(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
  return unobserved;
}
