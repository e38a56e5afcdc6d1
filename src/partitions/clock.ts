/**
 * The host's clock against the database's: `ensure` and `retention` plan
 * from the host's, and a wrong one makes them create or drop the wrong
 * partitions.
 *
 * @internal
 * @module
 */
import { BackfillError } from '../errors.js';
import type { PgClientLike, PgQueryResult } from '../_internals/pg.js';
import { floorToInterval } from './interval.js';
import type { ManagerContext } from './options.js';
import * as sql from './sql.js';

/** What a wrong clock does to each operation, for the message. */
const HARM: Readonly<Record<'ensure' | 'retention', string>> = {
  ensure:
    "Ensure picks the partitions to create from the host's clock, and a clock that is wrong creates the wrong ones and leaves the coming ones missing",
  retention:
    "Retention plans its cutoff from the host's clock, and a clock that is wrong would drop partitions still in the window (or keep expired ones)",
};

/**
 * Refuses (`CLOCK_SKEW`) when the host's clock, which the operation plans
 * from, is further from the database's than `maxClockSkewMs`: a host clock
 * a year fast would drop a year of partitions still in the window. The
 * database's clock is read between two readings of the host's, so the
 * round trip never counts as skew. A `now` the caller gave is not checked.
 * `ensure` only warns while both clocks are in the same interval: its
 * window is the same either way.
 */
export async function refuseSkewedClock(client: PgClientLike, ctx: ManagerContext, what: 'ensure' | 'retention'): Promise<void> {
  if (ctx.clockGiven) return;
  const before = Date.now();
  const { rows } = (await client.query(sql.databaseClock)) as PgQueryResult<{ t: string }>;
  const after = Date.now();
  const db = Number(rows[0]?.t) * 1000;
  if (!Number.isFinite(db)) return;
  const skew = db < before ? before - db : db > after ? db - after : 0;
  if (skew <= ctx.maxClockSkewMs) return;
  const host = new Date(after).toISOString();
  const theirs = new Date(db).toISOString();
  const which = db < before ? 'ahead of' : 'behind';
  const apart = `The host's clock reads ${host} but the database's reads ${theirs}: the host is ${describeMs(skew)} ${which} it, more than maxClockSkewMs (${ctx.maxClockSkewMs} ms) allows.`;
  // ensure only adds partitions, and a daily job that stops over a small drift leaves the coming month without one:
  // while both clocks are in the same interval, the window is the same, so it goes on and says so.
  if (
    what === 'ensure' &&
    floorToInterval(new Date(after), ctx.interval).getTime() === floorToInterval(new Date(db), ctx.interval).getTime()
  ) {
    ctx.logger.warn('host clock differs from the database clock', {
      table: ctx.table,
      hostClock: host,
      databaseClock: theirs,
      skewMs: skew,
      reason: `${apart} Both are in the same ${ctx.interval}, so ensure creates the same partitions either way and goes on; fix the host's clock before it crosses into another ${ctx.interval}, when ensure (and retention at any skew beyond maxClockSkewMs) refuses.`,
    });
    return;
  }
  throw new BackfillError(
    'CLOCK_SKEW',
    `${apart} ${HARM[what]}, so nothing was planned or changed for ${ctx.table}. ` +
      "Fix the wrong clock (is the host's time synchronised? check timedatectl or chronyc tracking), then run again. To run anyway, pass the instant to plan from explicitly (--now, or the now option) or raise maxClockSkewMs (--max-clock-skew-ms).",
    { context: { table: ctx.table, hostClock: host, databaseClock: theirs, skewMs: skew } },
  );
}

/** `ms` in the largest whole unit that fits, for messages. */
function describeMs(ms: number): string {
  const units: readonly [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  for (const [size, name] of units) {
    const n = Math.floor(ms / size);
    if (n >= 1) return `${n} ${name}${n === 1 ? '' : 's'}`;
  }
  return `${ms} ms`;
}
