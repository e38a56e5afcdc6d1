/**
 * Calendar arithmetic for partition slots: where an interval starts, the next
 * one, and the name suffix that encodes it. Everything is UTC.
 *
 * @module
 */

/**
 * The width of one partition. Weeks are ISO weeks (Monday to Monday).
 *
 * @example
 * ```ts
 * const interval: PartitionInterval = 'month';
 * ```
 */
export type PartitionInterval = 'day' | 'week' | 'month' | 'year';

/**
 * Every supported interval, for validation.
 *
 * @example
 * ```ts
 * PARTITION_INTERVALS.includes(process.env.INTERVAL as PartitionInterval);
 * ```
 */
export const PARTITION_INTERVALS: readonly PartitionInterval[] = ['day', 'week', 'month', 'year'];

const DAY_MS = 86_400_000;

/** A UTC midnight; unlike `Date.UTC` it does not map years 0–99 to 1900–1999. */
function utcDate(year: number, monthIndex: number, day: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, monthIndex, day);
  return d;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** Monday 00:00 UTC of the ISO week holding `date`. */
function isoWeekMonday(date: Date): Date {
  const midnight = utcDate(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const sinceMonday = (midnight.getUTCDay() + 6) % 7;
  return new Date(midnight.getTime() - sinceMonday * DAY_MS);
}

/** ISO week-numbering year and week of the week starting on `monday`. */
function isoWeekOf(monday: Date): { year: number; week: number } {
  // The Thursday of a week decides which year the week belongs to.
  const thursday = new Date(monday.getTime() + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const dayOfYear = Math.round((thursday.getTime() - utcDate(year, 0, 1).getTime()) / DAY_MS);
  return { year, week: Math.floor(dayOfYear / 7) + 1 };
}

/**
 * The start (UTC) of the interval that contains `date`.
 *
 * @example
 * ```ts
 * floorToInterval(new Date('2026-11-23T15:00:00Z'), 'month'); // 2026-11-01T00:00:00Z
 * ```
 */
export function floorToInterval(date: Date, interval: PartitionInterval): Date {
  switch (interval) {
    case 'day':
      return utcDate(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
    case 'week':
      return isoWeekMonday(date);
    case 'month':
      return utcDate(date.getUTCFullYear(), date.getUTCMonth(), 1);
    case 'year':
      return utcDate(date.getUTCFullYear(), 0, 1);
  }
}

/**
 * Moves an interval start `n` intervals forward (or back when `n < 0`).
 * `start` must already be an interval start (see {@link floorToInterval}).
 *
 * @example
 * ```ts
 * addIntervals(new Date('2026-12-01T00:00:00Z'), 'month', 1); // 2027-01-01T00:00:00Z
 * ```
 */
export function addIntervals(start: Date, interval: PartitionInterval, n: number): Date {
  switch (interval) {
    case 'day':
      return utcDate(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + n);
    case 'week':
      return utcDate(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 7 * n);
    case 'month':
      return utcDate(start.getUTCFullYear(), start.getUTCMonth() + n, 1);
    case 'year':
      return utcDate(start.getUTCFullYear() + n, 0, 1);
  }
}

/**
 * How many intervals lie from `from` to `to`, both interval starts
 * (negative when `to` comes first): the `n` for which
 * `addIntervals(from, interval, n)` is `to`.
 *
 * @example
 * ```ts
 * intervalsBetween(new Date('2025-04-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z'), 'month'); // 19
 * ```
 */
export function intervalsBetween(from: Date, to: Date, interval: PartitionInterval): number {
  const years = to.getUTCFullYear() - from.getUTCFullYear();
  switch (interval) {
    case 'day':
      return Math.round((to.getTime() - from.getTime()) / DAY_MS);
    case 'week':
      return Math.round((to.getTime() - from.getTime()) / (7 * DAY_MS));
    case 'month':
      return years * 12 + to.getUTCMonth() - from.getUTCMonth();
    case 'year':
      return years;
  }
}

/**
 * The name suffix for the interval starting at `start`: `_YYYY_MM`,
 * `_YYYY_MM_DD`, `_YYYY_Www` (ISO week) or `_YYYY`.
 *
 * @example
 * ```ts
 * partitionSuffix(new Date('2026-11-01T00:00:00Z'), 'month'); // "_2026_11"
 * ```
 */
export function partitionSuffix(start: Date, interval: PartitionInterval): string {
  const y = pad(start.getUTCFullYear(), 4);
  switch (interval) {
    case 'day':
      return `_${y}_${pad(start.getUTCMonth() + 1, 2)}_${pad(start.getUTCDate(), 2)}`;
    case 'week': {
      const { year, week } = isoWeekOf(start);
      return `_${pad(year, 4)}_W${pad(week, 2)}`;
    }
    case 'month':
      return `_${y}_${pad(start.getUTCMonth() + 1, 2)}`;
    case 'year':
      return `_${y}`;
  }
}

const SUFFIX_PATTERNS: Record<PartitionInterval, RegExp> = {
  day: /^_(\d{4})_(\d{2})_(\d{2})$/,
  week: /^_(\d{4})_W(\d{2})$/,
  month: /^_(\d{4})_(\d{2})$/,
  year: /^_(\d{4})$/,
};

/**
 * Reads a name suffix back into its interval start, or `undefined` when the
 * suffix is not exactly what {@link partitionSuffix} would write (so
 * `_2024_13`, `_2024_02_30` and `_2025_W53` are rejected).
 *
 * @example
 * ```ts
 * parsePartitionSuffix('_2024_02', 'month'); // 2024-02-01T00:00:00Z
 * parsePartitionSuffix('_2024_13', 'month'); // undefined
 * ```
 */
export function parsePartitionSuffix(suffix: string, interval: PartitionInterval): Date | undefined {
  const m = SUFFIX_PATTERNS[interval].exec(suffix);
  if (!m) return undefined;
  const [year, a, b] = [Number(m[1]), Number(m[2] ?? 1), Number(m[3] ?? 1)];
  if (year < 1) return undefined;
  let start: Date;
  if (interval === 'week') {
    if (a < 1) return undefined;
    // Week 1 is the week that holds 4 January.
    start = new Date(isoWeekMonday(utcDate(year, 0, 4)).getTime() + (a - 1) * 7 * DAY_MS);
  } else {
    start = utcDate(year, interval === 'year' ? 0 : a - 1, interval === 'day' ? b : 1);
  }
  return partitionSuffix(start, interval) === suffix ? start : undefined;
}

/**
 * The SQL types a partition key may have.
 *
 * @example
 * ```ts
 * const keyType: PartitionColumnType = 'timestamptz';
 * ```
 */
export type PartitionColumnType = 'date' | 'timestamp' | 'timestamptz';

/**
 * A bound as an SQL literal for `FOR VALUES FROM (…) TO (…)`. Timestamps with
 * time zone carry an explicit `+00`, so the session's `TimeZone` cannot shift
 * them.
 *
 * @example
 * ```ts
 * boundLiteral(new Date('2026-11-01T00:00:00Z'), 'timestamptz'); // "'2026-11-01 00:00:00+00'"
 * ```
 */
export function boundLiteral(at: Date, type: PartitionColumnType): string {
  const day = `${pad(at.getUTCFullYear(), 4)}-${pad(at.getUTCMonth() + 1, 2)}-${pad(at.getUTCDate(), 2)}`;
  if (type === 'date') return `'${day}'`;
  return `'${day} 00:00:00${type === 'timestamptz' ? '+00' : ''}'`;
}
