import { type BackfillError, toBackfillError } from '../errors.js';
import { IndexAppender } from './index-appender.js';
import { formatIndexRow } from './index-row.js';
import type { IndexTail } from './index-tail.js';
import type { IndexBackfillWarning, IndexRow } from './types.js';

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
        this.#appender ??= await IndexAppender.open(this.index);
        for (const id of (await this.tail?.newIds()) ?? []) this.#newlyIndexed.add(id);
      }
      if (row && this.#newlyIndexed.has(row.episode_id)) this.#indexedMeanwhile += 1;
      else if (row) {
        if (this.#appender) {
          const line = formatIndexRow(row);
          this.tail?.expect(line);
          await this.#appender.append(line);
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
    await this.tail?.close().catch(() => undefined);
    await this.#appender?.close().catch((e: unknown) => {
      this.#failure ??= toBackfillError(e, 'IO_ERROR', { path: this.index });
    });
  }
}
