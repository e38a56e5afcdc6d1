import { open, type FileHandle } from 'node:fs/promises';
import { BackfillError } from '../errors.js';

/**
 * Appends whole lines to the index through an `O_APPEND` descriptor, one
 * `write` per line, so lines from a live receiver and from here never mix.
 * The file is never truncated, replaced, chmod-ed or chown-ed; a missing one
 * is created with the default mode (0666 minus umask), as Python's
 * `open(path, "a")` does.
 */
export class IndexAppender {
  #startsMidLine: boolean;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    startsMidLine: boolean,
  ) {
    this.#startsMidLine = startsMidLine;
  }

  /** Opens `path` for appending and notes whether it ends in the middle of a line. */
  static async open(path: string): Promise<IndexAppender> {
    const handle = await open(path, 'a+');
    try {
      const { size } = await handle.stat();
      let midLine = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        midLine = last[0] !== 0x0a;
      }
      return new IndexAppender(handle, path, midLine);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /**
   * Appends `line` and a newline in one write. If the file ended without a
   * newline (a torn write), a newline goes first so the new row is not glued
   * onto the broken one.
   */
  async append(line: string): Promise<void> {
    const bytes = Buffer.from(`${this.#startsMidLine ? '\n' : ''}${line}\n`, 'utf8');
    const { bytesWritten } = await this.handle.write(bytes, 0, bytes.length);
    if (bytesWritten !== bytes.length) {
      throw new BackfillError(
        'IO_ERROR',
        `${this.path}: short write (${bytesWritten} of ${bytes.length} bytes); check free space. The next run starts a fresh line.`,
        { context: { path: this.path } },
      );
    }
    this.#startsMidLine = false;
  }

  /** `fsync`s and closes the file. */
  async close(): Promise<void> {
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }
}
