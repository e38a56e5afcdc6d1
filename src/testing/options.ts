/**
 * Checks of the fixture generators' options: a bad one is refused at the
 * call, naming the option, instead of yielding nothing, something else, or
 * hanging.
 *
 * @module
 */
import { BackfillError } from '../errors.js';
import { kindOf } from '../statements/normalizers/fields.js';

/** The largest seed: {@link SeededRandom} keeps 32 bits, so a larger one would give another seed's fixtures. */
export const MAX_SEED = 2 ** 32 - 1;

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an Invalid Date' : value.toISOString();
  if (Array.isArray(value)) return `[${value.map(shown).join(', ')}]`;
  // An object, a function or a symbol: its kind says more than its text ("[object Object]").
  if (typeof value === 'object' || typeof value === 'function' || typeof value === 'symbol') return kindOf(value);
  return String(value);
}

/** `INVALID_ARGUMENT` naming the option, what it must be and the value it got. */
export function invalid(name: string, rule: string, value: unknown): BackfillError {
  return new BackfillError('INVALID_ARGUMENT', `${name} must be ${rule}; got ${shown(value)}.`, { context: { option: name } });
}

/** `value` when it is a whole number from `min` to `max` (a number, not a string or a bigint). */
export function wholeNumber(value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  throw invalid(name, max === Number.MAX_SAFE_INTEGER ? `a whole number from ${min}` : `a whole number from ${min} to ${max}`, value);
}

/** A seed from 0 to 2^32 − 1. */
export function seedOf(value: unknown, name = 'seed'): number {
  return wholeNumber(value, name, 0, MAX_SEED);
}

/** A share from 0 to 1. */
export function ratio(value: unknown, name: string): number {
  if (typeof value === 'number' && value >= 0 && value <= 1) return value;
  throw invalid(name, 'a number from 0 to 1', value);
}

/** A valid `Date`. */
export function instant(value: unknown, name: string): number {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime();
  throw invalid(name, 'a valid Date', value);
}

/** A finite number of milliseconds from 0. */
export function spacing(value: unknown, name: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  throw invalid(name, 'a finite number of milliseconds from 0', value);
}

/** A non-empty list whose every item is one of `allowed`. */
export function subsetOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): readonly T[] {
  if (Array.isArray(value) && value.length > 0 && value.every((v) => (allowed as readonly unknown[]).includes(v))) return value as T[];
  throw invalid(name, `a non-empty list of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
}

/** Refuses a last `retrievedAt` that a `Date` cannot hold. */
export function lastInstantFits(start: number, spacingMs: number, count: number): void {
  const last = start + Math.floor(Math.max(count - 1, 0) / 3) * spacingMs;
  if (!(Math.abs(last) <= 8.64e15)) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `spacingMs must leave the last document's retrievedAt a valid Date; ${spacingMs} ms apart, document ${count - 1} would be at ${last} ms since 1970.`,
      { context: { option: 'spacingMs' } },
    );
  }
}
