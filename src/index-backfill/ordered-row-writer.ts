import { type BackfillError, toBackfillError } from '../errors.js';
import { IndexAppender } from './index-appender.js';
import { formatIndexRow } from './index-row.js';
import type { IndexBackfillWarning, IndexRow } from './types.js';

/** The outcome for one tarball: a row to write (none when it was skipped) and its warning. */
export interface Slot {
  readonly row: IndexRow | undefined;
  readonly warning: IndexBackfillWarning | undefined;
}

/**
 * Writes rows in the runbook tool's order however the scans finish: each
 * outcome waits in its slot until every earlier one is written, and rows
 * leave one line per write. A dry run writes nothing but keeps the rows.
 */
export class OrderedRowWriter {
  /** The rows written (or, in a dry run, that would be), in order. */
  readonly rows: IndexRow[] = [];
  #appended = 0;
  #skipped = 0;
  readonly #slots: (Slot | undefined)[] = [];
  #written = 0;
  #flushing: Promise<void> = Promise.resolve();
  #appender: IndexAppender | undefined;
  #failure: BackfillError | undefined;

  constructor(
    private readonly index: string,
    private readonly dryRun: boolean,
    private readonly warn: (warning: IndexBackfillWarning) => void,
  ) {}

  /** Rows appended to the index so far. */
  get appended(): number {
    return this.#appended;
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
      if (row) {
        if (!this.dryRun) {
          this.#appender ??= await IndexAppender.open(this.index);
          await this.#appender.append(formatIndexRow(row));
          this.#appended += 1;
        }
        this.rows.push(row);
      } else this.#skipped += 1;
      this.#written += 1;
    }
  }

  /** Syncs and closes the index, if anything was written; a failure to is kept like a write error. */
  async close(): Promise<void> {
    await this.#flushing;
    await this.#appender?.close().catch((e: unknown) => {
      this.#failure ??= toBackfillError(e, 'IO_ERROR', { path: this.index });
    });
  }
}
