import type { Duplex, TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

/** node:zlib's Gunzip class, which its types declare as an interface only. */
type GunzipClass = new (
  options: zlib.ZlibOptions,
) => zlib.Gunzip & {
  push(chunk: unknown, encoding?: BufferEncoding): boolean;
  _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void;
  _flush(callback: TransformCallback): void;
};

/**
 * gunzip of any number of members that fails, as `gzip -t` and `tar -xz`
 * do, on bytes after the last member other than zero padding. node:zlib
 * stops at a zero byte after a member and drops whatever follows it
 * unread (`gzip` then warns "trailing garbage ignored" and exits 2, and
 * `tar -xzf` fails), so such bytes passed unseen. Only zero bytes may
 * follow the last member, as they do when a tape or block device pads it.
 */
class CheckedGunzip extends (zlib.Gunzip as unknown as GunzipClass) {
  /** Compressed bytes written, and where the last non-zero one of them is. */
  #seen = 0;
  #lastNonZero = -1;
  /** The input has all been written: the end of the output may go out. */
  #flushing = false;

  /**
   * node:zlib ends the output itself where it stops reading, before the
   * rest of the input has been written: the end waits for `_flush`,
   * which has seen all of it.
   */
  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null && !this.#flushing) return false;
    return super.push(chunk, encoding);
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (chunk[i] !== 0) {
        this.#lastNonZero = this.#seen + i;
        break;
      }
    }
    this.#seen += chunk.length;
    super._transform(chunk, encoding, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.#flushing = true;
    super._flush((error, data) => {
      // `bytesWritten`: the compressed bytes node:zlib read, up to the end of the last member (and the zero it stopped at).
      if (!error && this.#lastNonZero >= this.bytesWritten) {
        error = Object.assign(
          new Error(
            `${this.#seen - this.bytesWritten} bytes follow the last gzip member (at compressed byte ${this.bytesWritten}), and not only zero padding: trailing garbage`,
          ),
          { code: 'GZIP_TRAILING_GARBAGE' },
        );
      }
      callback(error, data);
    });
  }
}

/** A gunzip stream for dataset reading (see {@link CheckedGunzip}); this module imports only `node:` builtins. */
export function createCheckedGunzip(chunkSize: number): Duplex {
  return new CheckedGunzip({ chunkSize });
}
