import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';

/** The longest `lock_timeout` PostgreSQL takes (an int of milliseconds, about 24.8 days). */
export const MAX_LOCK_TIMEOUT_MS = 2_147_483_647;

/** The longest delay a Node.js timer holds (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A lock timeout option in whole milliseconds, from 1 to what PostgreSQL's
 * `lock_timeout` takes: PostgreSQL reads 0 as "wait forever", which a
 * waiting ACCESS EXCLUSIVE request turns into every later reader of the
 * table waiting too, and refuses more than 2^31 - 1 only once connected.
 * `INVALID_ARGUMENT` otherwise; `fallback` when the option is absent.
 */
export function milliseconds(value: unknown, name: string, fallback: number): Result<number, BackfillError<never>> {
  const v = value ?? fallback;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_LOCK_TIMEOUT_MS
    ? ok(v)
    : err(
        new BackfillError<never>(
          'INVALID_ARGUMENT',
          `${name} must be a whole number of milliseconds from 1 to ${MAX_LOCK_TIMEOUT_MS}; got ${String(value)}.`,
        ),
      );
}
