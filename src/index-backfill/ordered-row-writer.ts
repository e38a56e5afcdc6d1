import { setTimeout as sleep } from 'node:timers/promises';
import { type BackfillError, toBackfillError } from '../errors.js';
import { closeIndexPathAtStart, IndexAppender, type IndexIdentity, type IndexPathAtStart } from './index-appender.js';
import { formatIndexRow } from './index-row.js';
import type { IndexTail } from './index-tail.js';
import type { IndexBackfillWarning, IndexRow } from './types.js';

/** How long a row waits for someone else's unfinished last line of the index to be finished. */
const UNFINISHED_LINE_WAIT_MS = 500;
const UNFINISHED_LINE_POLL_MS = 2;

/** The outcome for one tarball: a row to write (none when it was skipped) and its warning. */
export interface Slot {
  readonly row: IndexRow | undefined;
  readonly warning: IndexBackfillWarning | undefined;
}

/**
 * Writes rows in the runbook tool's order however the scans finish: each
 * outcome waits in its slot until every earlier one is written, and rows
 * leave one line per write. Before each row it reads what others appended
 * to the index meanwhile (`tail`), and drops the row when its episode is
 * there now. A dry run writes nothing but keeps the rows.
 */
export class OrderedRowWriter {
  /** The rows written (or, in a dry run, that would be), in order. */
  readonly rows: IndexRow[] = [];
  #appended = 0;
  #skipped = 0;
  #indexedMeanwhile = 0;
  readonly #newlyIndexed = new Set<string>();
  readonly #slots: (Slot | undefined)[] = [];
  #written = 0;
  #flushing: Promise<void> = Promise.resolve();
  #appender: IndexAppender | undefined;
  #failure: BackfillError | undefined;

  constructor(
    private readonly index: string,
    private readonly dryRun: boolean,
    private readonly warn: (warning: IndexBackfillWarning) => void,
    private readonly tail: IndexTail | undefined,
    /** The file the run read as the index, if there was one: the appends must go to it. */
    private readonly read?: IndexIdentity,
    /** What the index path itself was then (a symbolic link or not): a link planted since is not followed. */
    private readonly start?: IndexPathAtStart,
  ) {}

  /** Rows appended to the index so far. */
  get appended(): number {
    return this.#appended;
  }

  /** Rows dropped because someone else (the receiver) indexed their episode while the run went on. */
  get indexedMeanwhile(): number {
    return this.#indexedMeanwhile;
  }

  /** Tarballs that gave no row. */
  get skipped(): number {
    return this.#skipped;
  }

  /** The write error that stopped the writer, if any. */
  get failure(): BackfillError | undefined {
    return this.#failure;
  }

  /** Stores outcome `at` and writes every outcome that is now next in order. */
  fill(at: number, slot: Slot): Promise<void> {
    this.#slots[at] = slot;
    return this.flush();
  }

  /** Writes the finished prefix; a write error is kept in {@link OrderedRowWriter.failure}, never thrown. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing
      .then(() => this.#writePrefix())
      .catch((e: unknown) => {
        this.#failure ??= toBackfillError(e, 'IO_ERROR', { path: this.index });
      });
    return this.#flushing;
  }

  async #writePrefix(): Promise<void> {
    while (this.#failure === undefined && this.#slots[this.#written] !== undefined) {
      const { row, warning } = this.#slots[this.#written]!;
      if (warning) this.warn(warning);
      if (row && !this.dryRun) {
        this.#appender ??= await IndexAppender.open(this.index, this.read, this.start);
        await this.#appender.checkStillTheIndex();
        await this.#readTail();
      }
      if (!row) this.#skipped += 1;
      else if (this.#newlyIndexed.has(row.episode_id) || (this.#appender && !(await this.#append(this.#appender, row))))
        this.#indexedMeanwhile += 1;
      else this.rows.push(row);
      this.#written += 1;
    }
  }

  /**
   * Appends `row` once the index ends in a whole line; false when, while
   * waiting for someone else's line to be finished, its episode turned out
   * to be indexed by them (nothing is appended then).
   */
  async #append(appender: IndexAppender, row: IndexRow): Promise<boolean> {
    const line = formatIndexRow(row);
    for (let attempt = 0; ; attempt += 1) {
      // Still unfinished after the wait (a write cut short, never to end), or started again each time the tail
      // saw it whole (a tail that cannot see it: a truncated index): the row starts a line of its own.
      this.tail?.expect(line);
      if (appender.append(line, (this.tail?.unfinished ?? false) || attempt >= 3)) break;
      // Someone started a line since the tail was read.
      this.tail?.forget(line);
      await this.#readTail();
      if (this.#newlyIndexed.has(row.episode_id)) return false;
    }
    this.#appended += 1;
    return true;
  }

  /**
   * Notes the episodes others indexed since the last row. When the index
   * ends in someone else's unfinished line (a receiver writing a row in
   * more than one write), waits up to {@link UNFINISHED_LINE_WAIT_MS} for
   * it: a row appended now would be glued into that line, and both lost.
   */
  async #readTail(): Promise<void> {
    const tail = this.tail;
    if (tail === undefined) return;
    for (const id of await tail.newIds()) this.#newlyIndexed.add(id);
    for (let waited = 0; tail.unfinished && waited < UNFINISHED_LINE_WAIT_MS; waited += UNFINISHED_LINE_POLL_MS) {
      await sleep(UNFINISHED_LINE_POLL_MS);
      for (const id of await tail.newIds()) this.#newlyIndexed.add(id);
    }
  }

  /** Syncs and closes the index, if anything was written; a failure to is kept like a write error. */
  async close(): Promise<void> {
    await this.#flushing;
    await this.tail?.close().catch(() => undefined);
    await this.#appender?.close().catch((e: unknown) => {
      this.#failure ??= toBackfillError(e, 'IO_ERROR', { path: this.index });
    });
    await closeIndexPathAtStart(this.start);
  }
}
