import { pythonJsonDumps } from './python-json.js';
import type { IndexRow } from './types.js';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * Formats a time as Python's `datetime.now(timezone.utc).isoformat()` does:
 * `2026-11-23T14:47:29.123000+00:00`, with the fraction left out when the
 * microseconds are zero (JavaScript clocks give milliseconds, so the last
 * three digits are `000`).
 *
 * @example
 * ```ts
 * formatReceivedAt(new Date('2026-11-23T14:47:29.123Z')); // '2026-11-23T14:47:29.123000+00:00'
 * ```
 */
export function formatReceivedAt(date: Date): string {
  const base = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`;
  const ms = date.getUTCMilliseconds();
  return `${base}${ms === 0 ? '' : `.${pad(ms * 1000, 6)}`}+00:00`;
}

/**
 * Serialises an index row exactly as the runbook's tool and the receiver do,
 * `json.dumps(row, sort_keys=True)`, without the trailing newline.
 *
 * @example
 * ```ts
 * formatIndexRow(report.rows[0]!);
 * // '{"backfilled": true, "commit": "…", "episode_id": "ep-1", …}'
 * ```
 */
export function formatIndexRow(row: IndexRow): string {
  return pythonJsonDumps(row);
}
