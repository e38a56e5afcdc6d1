/**
 * How a distributed backfill's worker waits out an unreachable database:
 * {@link Outage} notes lost connections and round trips that worked, and
 * says when the wait has lasted too long.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { err, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { isPassingConnectionLoss } from '../_internals/pg.js';

/**
 * How long the database has been unreachable for a worker: its loop and
 * slots note each lost connection and each round trip that worked; past
 * the limit the worker fails with `DB_CONNECTION`.
 */
export class Outage {
  readonly #limitSeconds: number;
  readonly #logger: Logger;
  #since: number | undefined;
  #tries = 0;
  #last: BackfillError | undefined;

  constructor(limitSeconds: number, logger: Logger) {
    this.#limitSeconds = limitSeconds;
    this.#logger = logger;
  }

  get waiting(): boolean {
    return this.#since !== undefined;
  }

  /** A round trip to the database worked. */
  ended(): void {
    if (this.#since === undefined) return;
    this.#logger.info('statement backfill: the database is reachable again', { waitedMs: Date.now() - this.#since });
    this.#since = undefined;
    this.#tries = 0;
  }

  /** Notes `error` if it is a lost connection (to wait out; not a missing database or a rejected login) and says whether it was. */
  noted(error: unknown): boolean {
    if (!(error instanceof BackfillError) || !isPassingConnectionLoss(error)) return false;
    if (this.#since === undefined) {
      this.#since = Date.now();
      this.#logger.warn('statement backfill: the database is unreachable; waiting for it', {
        upToSeconds: this.#limitSeconds,
        error: error.message,
      });
    }
    this.#last = error;
    return true;
  }

  /** The next wait while the database is unreachable: 0.25 s doubling up to 5 s. */
  backoffMs(): number {
    const ms = Math.min(5000, 250 * 2 ** this.#tries);
    this.#tries += 1;
    return ms;
  }

  /** The error to fail with once the outage has lasted past the limit. */
  expired(): BackfillError | undefined {
    if (this.#since === undefined || Date.now() - this.#since < this.#limitSeconds * 1000) return undefined;
    return new BackfillError(
      'DB_CONNECTION',
      `the database was unreachable for ${this.#limitSeconds} s (${this.#last?.message ?? 'no connection'}); start workers again once it is back: its ranges resume from their checkpoints.`,
      { cause: this.#last, context: { reconnectSeconds: this.#limitSeconds } },
    );
  }
}

/** Runs `step` until it works, waiting out an unreachable database with `outage`'s backoff, up to its limit. */
export async function waitingOut<T>(
  step: () => Promise<Result<T, BackfillError>>,
  outage: Outage,
  signal: AbortSignal | undefined,
): Promise<Result<T, BackfillError>> {
  for (;;) {
    const done = await step();
    if (done.isOk()) {
      outage.ended();
      return done;
    }
    if (!outage.noted(done.error)) return done;
    const gaveUp = outage.expired();
    if (gaveUp !== undefined) return err(gaveUp);
    if (signal?.aborted) return err(new BackfillError('ABORTED', 'The worker was stopped while it waited for the database.'));
    await pause(outage.backoffMs(), signal);
  }
}

/** Resolves after `ms`, or at once when `signal` fires. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}
