/** Messages between the decode thread and the main thread (see decode-thread.ts). Types only: nothing here runs. */
import type { DecodeLimits } from '../_internals/decode-limits.ts';
import type { Compression } from '../_internals/decompress.ts';
import type { TarEvent } from './tar-parser.ts';

/** What the decode thread is started with. */
export interface DecodeThreadData {
  /**
   * The file, opened and checked by the main thread, which owns the
   * descriptor and closes it once the thread has exited: the thread reads
   * it at explicit offsets and never opens the path itself, so a file put
   * at the path since the check is never what it reads.
   */
  readonly fd: number;
  readonly compression: Compression;
  readonly limits: DecodeLimits;
  readonly readBytes: number;
  readonly maxInFlightBytes: number;
  readonly pieceBytes: number;
  /** Whether the tar parser hashes each member's data (`ReadDatasetOptions.memberDigests`). */
  readonly hashMembers: boolean;
}

/** A failure of the decode thread, before it is mapped to an error code. */
export interface DecodeFailure {
  readonly stage: 'io' | 'decode' | 'limit';
  /** For `limit`, which one was passed: `bytes` or `ratio`. */
  readonly message: string;
  readonly code?: string;
  /** Stored bytes read when it happened. */
  readonly offset: number;
}

/** The stored file's SHA-256 and size. */
export interface StoredDigest {
  readonly sha256: string;
  readonly bytes: number;
}

/** Decode thread → main thread: a decoded piece and what the parser found in it, then the stored digest. */
export type FromDecodeThread =
  | { readonly type: 'piece'; readonly chunk: Uint8Array; readonly events: readonly TarEvent[] }
  | ({ readonly type: 'end' } & StoredDigest)
  | { readonly type: 'error'; readonly failure: DecodeFailure };
