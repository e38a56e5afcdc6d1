import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';

/**
 * A duration option in whole milliseconds, at least 1: PostgreSQL reads a
 * `lock_timeout` of 0 as "wait forever", which a waiting ACCESS EXCLUSIVE
 * request turns into every later reader of the table waiting too.
 * `INVALID_ARGUMENT` otherwise; `fallback` when the option is absent.
 */
export function milliseconds(value: unknown, name: string, fallback: number): Result<number, BackfillError<never>> {
  const v = value ?? fallback;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1
    ? ok(v)
    : err(new BackfillError<never>('INVALID_ARGUMENT', `${name} must be a positive integer (milliseconds); got ${String(value)}.`));
}
