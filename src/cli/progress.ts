/**
 * Progress for long work: a bar with rate and ETA when stderr is a
 * terminal, and plain periodic log lines when it is not (CI, cron, pipes).
 *
 * @module
 */

import { printable } from './output.js';

/** Where progress is drawn. `process.stderr` fits. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/**
 * The rate and time to go as the work measures them itself, when its `done`
 * counts units done before this display started (a resumed run's, or other
 * processes'), which `done / elapsed` would count as this display's.
 */
export interface Pace {
  readonly perSecond: number;
  /** Absent: no ETA is shown. */
  readonly etaSeconds?: number;
}

/** One progress display; call {@link Progress.update} often, {@link Progress.done} once. */
export interface Progress {
  /** `done` units so far, out of `total` when known; at `pace` when given, else at `done` over the time since the display started. */
  update(done: number, total?: number, note?: string, pace?: Pace): void;
  /** Clears the bar (TTY) or writes a last line (log mode). */
  done(note?: string): void;
}

/** Makes a {@link Progress} for a task with a label and a unit ("rows", "files"…). */
export type ProgressFactory = (label: string, unit: string) => Progress;

/** Options of {@link createProgressFactory}. */
export interface ProgressOptions {
  readonly stream: ProgressStream;
  /** No output at all. */
  readonly quiet?: boolean;
  /** Draw a bar with escape sequences. @defaultValue `stream.isTTY` */
  readonly tty?: boolean;
  /** Seconds between two log lines when the stream is not a TTY. @defaultValue 5 */
  readonly logEverySeconds?: number;
  /** Redraws per second on a TTY. @defaultValue 10 */
  readonly redrawPerSecond?: number;
  /** The clock in ms (tests). @defaultValue `Date.now` */
  readonly now?: () => number;
}

const silent: Progress = { update() {}, done() {} };

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `75` → `1:15`, `3725` → `1:02:05`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** The figures a bar or log line shows. */
function figures(
  done: number,
  total: number | undefined,
  elapsedS: number,
  pace: Pace | undefined,
): { rate: number; eta: number | undefined; pct: number | undefined } {
  const known = total !== undefined && total > 0;
  const pct = known ? Math.min(100, (done / total) * 100) : undefined;
  if (pace !== undefined) return { rate: pace.perSecond, eta: pace.etaSeconds, pct };
  const rate = elapsedS > 0 ? done / elapsedS : 0;
  const eta = known && rate > 0 ? Math.max(0, (total - done) / rate) : undefined;
  return { rate, eta, pct };
}

/**
 * Returns a factory of progress displays for `stream`. On a TTY each task
 * draws `label [#####-----] 45% 12,345/27,000 rows 3,210 rows/s ETA 0:04`
 * on one line; otherwise it writes `label: 12,345/27,000 rows (45%), 3,210
 * rows/s, ETA 0:04` every few seconds and once at the end.
 *
 * @example
 * ```ts
 * const progress = createProgressFactory({ stream: process.stderr })('import', 'rows');
 * progress.update(500, 1000);
 * progress.done();
 * ```
 */
export function createProgressFactory(options: ProgressOptions): ProgressFactory {
  if (options.quiet === true) return () => silent;
  const now = options.now ?? Date.now;
  const tty = options.tty ?? options.stream.isTTY === true;
  const logEveryMs = (options.logEverySeconds ?? 5) * 1000;
  const redrawMs = 1000 / (options.redrawPerSecond ?? 10);
  return (rawLabel, unit) => {
    // The label holds a path from the command line and notes name members from an archive: neither may drive the terminal.
    const label = printable(rawLabel);
    const started = now();
    let last = 0;
    let state: { done: number; total: number | undefined; note: string | undefined; pace: Pace | undefined } = {
      done: 0,
      total: undefined,
      note: undefined,
      pace: undefined,
    };
    let drawn = false;
    /** The line; on a TTY the bar takes the room `width` leaves (5 to 30 cells), or is left out. */
    const text = (width: number): string => {
      const f = figures(state.done, state.total, (now() - started) / 1000, state.pace);
      const count = state.total === undefined ? fmt.format(state.done) : `${fmt.format(state.done)}/${fmt.format(state.total)}`;
      const eta = f.eta === undefined ? '' : ` ETA ${formatDuration(f.eta)}`;
      const note = state.note === undefined ? '' : ` ${printable(state.note)}`;
      if (!tty)
        return `${label}: ${count} ${unit}${f.pct === undefined ? '' : ` (${f.pct.toFixed(0)}%)`}, ${fmt.format(f.rate)} ${unit}/s${eta}${note}`;
      const rest = ` ${count} ${unit} ${fmt.format(f.rate)} ${unit}/s${eta}${note}`;
      // Fixed for a given label and terminal, so the bar does not jitter as the figures change.
      const barWidth = Math.min(30, width - label.length - 55);
      const bar =
        f.pct === undefined || barWidth < 5
          ? ''
          : ` [${'#'.repeat(Math.round((f.pct / 100) * barWidth)).padEnd(barWidth, '-')}] ${f.pct.toFixed(0).padStart(3)}%`;
      return `${label}${bar}${rest}`;
    };
    const draw = (): void => {
      // A pseudo-terminal may report 0 columns.
      const width = options.stream.columns !== undefined && options.stream.columns > 20 ? options.stream.columns : 80;
      const line = text(width).slice(0, width - 1);
      options.stream.write(`\r\x1b[2K${line}`);
      drawn = true;
    };
    return {
      update(done, total, note, pace) {
        state = { done, total: total ?? state.total, note, pace };
        const t = now();
        if (tty ? t - last >= redrawMs : t - last >= logEveryMs && t - started >= logEveryMs) {
          last = t;
          if (tty) draw();
          else options.stream.write(`${text(0)}\n`);
        }
      },
      done(note) {
        if (note !== undefined) state = { ...state, note };
        if (tty) {
          if (drawn) options.stream.write('\r\x1b[2K');
        } else if (state.done > 0) {
          options.stream.write(`${text(0)} (done in ${formatDuration((now() - started) / 1000)})\n`);
        }
      },
    };
  };
}
