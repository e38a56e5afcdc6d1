import { type FileHandle, open } from 'node:fs/promises';
import { BackfillError } from '../errors.js';
import { parsePythonJson } from './python-json.js';

const NEWLINE = 0x0a;
const READ_BYTES = 64 * 1024;
// str.splitlines() boundaries, as the first read of the index splits lines (\r\n is one break).
const LINE_BREAKS = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

/**
 * Where the text up to the last line break in `bytes` ends (0 when there is
 * none): a break of `str.splitlines()`, as a byte (`\n`, a bare `\r`, …) or
 * as the UTF-8 of U+0085, U+2028 or U+2029. A byte below 0x80 is never part
 * of a longer UTF-8 sequence, so a match is always a whole character.
 */
function afterLastBreak(bytes: Buffer): number {
  for (let i = bytes.length - 1; i >= 0; i -= 1) {
    const b = bytes[i]!;
    if (b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c || (b >= 0x1c && b <= 0x1e)) return i + 1;
    if (b === 0x85 && bytes[i - 1] === 0xc2) return i + 1;
    if ((b === 0xa8 || b === 0xa9) && bytes[i - 1] === 0x80 && bytes[i - 2] === 0xe2) return i + 1;
  }
  return 0;
}

/**
 * Reads the lines others (the live receiver) append to the index while a
 * backfill runs, from where the backfill's first read of the index began,
 * and gives the episode ids they name. A tarball whose upload was still
 * going on when the backfill read the index is indexed by the receiver once
 * complete; without this, the backfill appended a second row for it.
 * Lines the backfill appended itself are announced with
 * {@link IndexTail.expect} and passed over, so one episode id on several
 * hosts still gets a row per tarball, as the runbook's tool writes them.
 */
export class IndexTail {
  #handle: FileHandle | undefined;
  #offset: number;
  #carry: Buffer = Buffer.alloc(0);
  readonly #buffer = Buffer.allocUnsafe(READ_BYTES);
  readonly #mine = new Map<string, number>();

  /**
   * @param path - the index
   * @param offset - a byte offset at or before the end of what the first read covered (reading again is harmless);
   *   reading starts at the beginning of the line holding it
   * @param maxLineBytes - the longest line read (`maxIndexLineBytes`)
   */
  constructor(
    private readonly path: string,
    offset: number,
    private readonly maxLineBytes: number,
  ) {
    this.#offset = offset;
  }

  /** Whether the index ended, at the last {@link IndexTail.newIds}, in someone else's line not finished yet. */
  get unfinished(): boolean {
    return this.#carry.length > 0;
  }

  /** Notes a line about to be appended by this run, so it is not taken for someone else's. */
  expect(line: string): void {
    this.#mine.set(line, (this.#mine.get(line) ?? 0) + 1);
  }

  /** Takes back an {@link IndexTail.expect} for a line that was not appended after all. */
  forget(line: string): void {
    const mine = this.#mine.get(line);
    if (mine === 1) this.#mine.delete(line);
    else if (mine !== undefined) this.#mine.set(line, mine - 1);
  }

  /** The episode ids of whole lines others appended since the last call. */
  async newIds(): Promise<string[]> {
    if (this.#handle === undefined) {
      this.#handle = await open(this.path, 'r');
      this.#offset = await this.#lineStart(this.#handle, this.#offset);
    }
    const ids: string[] = [];
    for (;;) {
      const buffer = this.#buffer;
      const { bytesRead } = await this.#handle.read(buffer, 0, READ_BYTES, this.#offset);
      if (bytesRead === 0) return ids;
      this.#offset += bytesRead;
      const bytes = this.#carry.length === 0 ? buffer.subarray(0, bytesRead) : Buffer.concat([this.#carry, buffer.subarray(0, bytesRead)]);
      // Lines end where the first read of the index ends them (a bare \r too, as another writer may separate them).
      const start = afterLastBreak(bytes);
      if (start > 0) {
        const lines = bytes.toString('utf8', 0, start).split(LINE_BREAKS);
        lines.pop();
        for (const line of lines) this.#take(line, ids);
      }
      // A line not finished yet (a write in progress) waits for the next call; copied, as the buffer is reused.
      this.#carry = Buffer.from(bytes.subarray(start));
      if (this.#carry.length > this.maxLineBytes) {
        throw new BackfillError(
          'LINE_TOO_LONG',
          `${this.path}: a line appended while this run went on is longer than ${this.maxLineBytes} bytes; the run stopped, and the rows it appended are whole lines. Repair the line (it may hold an episode id), or raise maxIndexLineBytes (--max-index-line-bytes).`,
          { context: { path: this.path, limit: this.maxLineBytes } },
        );
      }
    }
  }

  /**
   * Where the line holding byte `offset` begins. The first read of the index
   * may have ended inside a line the receiver was still writing (and skipped
   * it as not JSON): reading on from `offset` would give only that line's
   * end, and its episode would never be recognised.
   */
  async #lineStart(handle: FileHandle, offset: number): Promise<number> {
    // Back one buffer at a time, at most a line's length (a longer line stopped the first read with LINE_TOO_LONG).
    const floor = Math.max(0, offset - this.maxLineBytes - 2);
    for (let end = offset; end > floor; ) {
      const from = Math.max(floor, end - READ_BYTES);
      const { bytesRead } = await handle.read(this.#buffer, 0, end - from, from);
      const newline = this.#buffer.subarray(0, bytesRead).lastIndexOf(NEWLINE);
      if (newline !== -1) return from + newline + 1;
      end = from;
    }
    return floor === 0 ? 0 : offset;
  }

  #take(line: string, ids: string[]): void {
    const mine = this.#mine.get(line);
    if (mine !== undefined) {
      if (mine === 1) this.#mine.delete(line);
      else this.#mine.set(line, mine - 1);
      return;
    }
    const row = parsePythonJson(line);
    if (row.isErr() || row.value === null || typeof row.value !== 'object' || Array.isArray(row.value)) return;
    const id = (row.value as Record<string, unknown>)['episode_id'];
    if (typeof id === 'string') ids.push(id);
  }

  async close(): Promise<void> {
    await this.#handle?.close();
  }
}
