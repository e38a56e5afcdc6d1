/**
 * One strict reader of ISO-8601 / RFC 3339 instants, for the CLI's time
 * flags and the VEX normalizers' timestamps alike (never `Date.parse`, whose
 * fallback reads `"1"` as 2001-01-01 and an offset-less time in the host's
 * time zone).
 */
import { err, ok, type Result } from 'neverthrow';

/**
 * `YYYY-MM-DD`, then optionally `T` or a space and `HH:MM[:SS[.fraction]]`,
 * then optionally `Z` or an offset (`+HH`, `+HH:MM`, `+HHMM`); case-insensitive
 * (RFC 3339 allows `t` and `z`), and a space before the offset as psql prints it.
 */
const INSTANT = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?)? ?(?:Z|([+-])(\d\d)(?::?(\d\d))?)?$/i;

/**
 * The instants PostgreSQL reads back from their ISO form: it has no year
 * 0000 (1 BC is written `0001-… BC`) and takes the `+010000-…` form of a
 * year past 9999 for a time zone.
 */
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

const ZERO = 0x30;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** Days in `month` (1–12) of the Gregorian `year`. */
function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

/** Why a text is not an instant. */
export type InstantProblem = 'not-iso' | 'no-such-time' | 'offset' | 'year';

/** An instant read to the millisecond (since the epoch), and the finer fraction its text gave, which that cuts off. */
export interface Instant {
  readonly epochMs: number;
  readonly finerThanMs: boolean;
  /** The fraction's digits after the millisecond, trailing zeros dropped (`''` when none): what orders two instants in one millisecond. */
  readonly beyondMs: string;
}

/**
 * Reads `text` (trimmed) as an instant: UTC when it has no offset, whatever
 * the host's time zone; a date alone is its midnight UTC. Refused: any other
 * shape (`not-iso`), a date or time that does not exist such as 2024-02-30,
 * 24:00 or a leap second (`no-such-time`), an offset past ±15:59, which
 * PostgreSQL refuses (`offset`), and an instant outside the years 0001 to
 * 9999 UTC (`year`). Runs for every claim: no `Date` parsing of text.
 */
export function readInstant(text: string): Result<Instant, InstantProblem> {
  const parts = INSTANT.exec(text.trim());
  if (parts === null) return err('not-iso');
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', sign = '+', oh = '0', om = '0'] = parts;
  const [year, month, day, hours, minutes, seconds] = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hours > 23 || minutes > 59 || seconds > 59)
    return err('no-such-time');
  // Offsets in use run from -12:00 to +14:00; PostgreSQL refuses minutes past 59 and hours past 15.
  if (Number(oh) > 15 || Number(om) > 59) return err('offset');
  const offsetMinutes = (Number(oh) * 60 + Number(om)) * (sign === '-' ? -1 : 1);
  // Date.UTC reads the years 0–99 as 1900–1999: the year is set on its own, on a leap year's date.
  const wall = new Date(Date.UTC(2000, month - 1, day, hours, minutes, seconds, Number(fraction.slice(0, 3).padEnd(3, '0'))));
  const epochMs = wall.setUTCFullYear(year) - offsetMinutes * 60_000;
  if (epochMs < EARLIEST || epochMs > LATEST) return err('year');
  // Trailing zeros dropped by a loop: a pattern (`/0+$/`) backtracks quadratically over a long run of zeros not at the end.
  let end = fraction.length;
  while (end > 3 && fraction.charCodeAt(end - 1) === ZERO) end -= 1;
  const beyondMs = fraction.slice(3, end);
  return ok({ epochMs, finerThanMs: beyondMs !== '', beyondMs });
}

/**
 * `instant` as UTC ISO-8601 text with every digit of its fraction
 * (`2024-01-01T05:00:00.123456Z`): what PostgreSQL reads back as the same
 * instant, to the microsecond, whatever the session's time zone.
 */
export function instantText(instant: Instant): string {
  return `${new Date(instant.epochMs).toISOString().slice(0, -1)}${instant.beyondMs}Z`;
}
