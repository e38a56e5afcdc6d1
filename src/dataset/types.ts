import type { ResultAsync } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import type { Compression } from '../_internals/decompress.js';

export type { Compression };

/** One entry of `manifest.json`'s `members` list (schema 1). */
export interface ManifestMember {
  readonly name: string;
  readonly records: number;
  readonly bytes?: number;
  readonly sha256?: string;
  readonly [extra: string]: unknown;
}

/** A parsed schema-1 `manifest.json`. Unknown keys are kept. */
export interface DatasetManifest {
  readonly schemaVersion: 1;
  readonly name?: string;
  readonly createdAt?: string;
  readonly members: readonly ManifestMember[];
  readonly [extra: string]: unknown;
}

/** One NDJSON record: its 1-based line number, parsed value and raw text. */
export interface DatasetRecord {
  readonly line: number;
  readonly value: Record<string, unknown>;
  /** The line as it appears in the member, without the line ending. */
  readonly raw: string;
}

/** One raw, unparsed NDJSON line (blank lines are skipped but counted). */
export interface DatasetLine {
  readonly line: number;
  readonly raw: string;
}

/**
 * One raw NDJSON line as bytes (`lines({ encoding: 'buffer' })`): no UTF-8
 * decoding or validation. `raw` is usually a view into the decoded chunk it
 * came from. It stays valid (chunks are never reused), but keeping it keeps
 * that chunk (up to 512 KiB) in memory: copy it with `Buffer.from(raw)` to
 * hold on to many lines.
 */
export interface DatasetByteLine {
  readonly line: number;
  readonly raw: Buffer;
}

/** How {@link DatasetMember.lines} and {@link DatasetMember.lineBatches} hand out each line. */
export interface LineOptions<E extends 'utf8' | 'buffer' = 'utf8' | 'buffer'> {
  /**
   * `'utf8'` decodes each line to a string and refuses invalid UTF-8;
   * `'buffer'` hands out the line's bytes undecoded, the fastest way to
   * forward or count lines.
   * @defaultValue `'utf8'`
   */
  readonly encoding?: E;
}

/**
 * What one pass measured about a member. `Digest` is `string` for a dataset
 * read with member digests (the default) and `null` for one read with
 * `memberDigests: false`; `readDataset` picks it from the options.
 */
export interface MemberStats<Digest extends string | null = string | null> {
  readonly name: string;
  /** Uncompressed bytes. */
  readonly bytes: number;
  /**
   * SHA-256 of the member's bytes, lowercase hex; `null` when the dataset was
   * read with `memberDigests: false` (see {@link ReadDatasetOptions.memberDigests}).
   */
  readonly sha256: Digest;
  /** Non-blank lines (NDJSON records); `null` for `manifest.json`. */
  readonly records: number | null;
}

/** What one pass measured about the whole archive (`Digest`: see {@link MemberStats}). */
export interface DatasetStats<Digest extends string | null = string | null> {
  readonly compression: Compression;
  /** SHA-256 of the input file as stored (compressed), lowercase hex. */
  readonly sha256: string;
  /** Size of the input as stored (compressed). */
  readonly bytes: number;
  /**
   * Uncompressed tar bytes up to the end-of-archive block (headers, data and
   * padding); what follows that block is not decompressed.
   */
  readonly tarBytes: number;
  /** Every member in archive order, including `manifest.json`. */
  readonly members: readonly MemberStats<Digest>[];
}

/**
 * A member of the archive, yielded in archive order. Read it with one of
 * `records()`, `lines()`, `chunks()` or the batch forms, or skip it: whatever you don't read is
 * drained (and still hashed and counted) before the next member arrives.
 */
export interface DatasetMember {
  readonly name: string;
  /** Size in bytes from the tar header. */
  readonly size: number;
  /** Parsed records; throws a {@link BackfillError} naming the line on bad JSON. */
  records(): AsyncIterable<DatasetRecord>;
  /**
   * Raw lines, without JSON parsing: strings by default (invalid UTF-8 is
   * refused), or undecoded bytes with `{ encoding: 'buffer' }`.
   */
  lines(): AsyncIterable<DatasetLine>;
  /** Raw lines as undecoded bytes (see {@link DatasetByteLine}). */
  lines(options: LineOptions<'buffer'>): AsyncIterable<DatasetByteLine>;
  /** Raw lines as strings or bytes, as `options.encoding` says. */
  lines(options?: LineOptions): AsyncIterable<DatasetLine | DatasetByteLine>;
  /** The member's bytes as they come off the archive. */
  chunks(): AsyncIterable<Buffer>;
  /**
   * Raw lines in arrays (at most 256 KiB of lines each): the fast path for bulk
   * loaders, since it costs one `await` per chunk instead of one per line.
   * With `{ encoding: 'buffer' }` no line is decoded, the fastest way to
   * count, hash or forward lines.
   */
  lineBatches(): AsyncIterable<DatasetLine[]>;
  /** Raw lines as undecoded bytes, in arrays (see {@link DatasetByteLine}). */
  lineBatches(options: LineOptions<'buffer'>): AsyncIterable<DatasetByteLine[]>;
  /** Raw lines as strings or bytes, as `options.encoding` says, in arrays. */
  lineBatches(options?: LineOptions): AsyncIterable<DatasetLine[] | DatasetByteLine[]>;
  /** Parsed records in arrays (at most 256 KiB of lines each); see {@link DatasetMember.lineBatches}. */
  recordBatches(): AsyncIterable<DatasetRecord[]>;
}

/** Options for {@link readDataset}. */
export interface ReadDatasetOptions {
  /**
   * Refuse archives whose decompressed tar stream is larger than this (a
   * decompression-bomb guard).
   * @defaultValue `DEFAULT_MAX_DECOMPRESSED_BYTES` (64 GiB)
   */
  readonly maxDecompressedBytes?: number;
  /**
   * Refuse archives that decompress to more than this many bytes per
   * compressed byte read so far, once past the first 64 MiB of output (a
   * decompression-bomb guard that needs no size guess). NDJSON datasets
   * compress 5–20× with zstd or gzip; `Infinity` turns the check off.
   * @defaultValue `DEFAULT_MAX_COMPRESSION_RATIO` (200)
   */
  readonly maxCompressionRatio?: number;
  /**
   * Longest NDJSON line accepted, in bytes. A line read as text must also
   * fit in a JavaScript string (`buffer.constants.MAX_STRING_LENGTH`
   * characters, about 512 MiB), whatever this says: a longer one is
   * `LINE_TOO_LONG` too, and can only be read undecoded
   * (`{ encoding: 'buffer' }`).
   *
   * @defaultValue `DEFAULT_MAX_LINE_BYTES` (64 MiB)
   */
  readonly maxLineBytes?: number;
  /**
   * Most entries the archive may hold: tar entries, and the files and
   * directories they make when extracted (`a/b/c.ndjson` makes three), each
   * counted once. Past it the archive is `SIZE_LIMIT_EXCEEDED`. The reader
   * keeps a few hundred bytes per entry (each member's {@link MemberStats},
   * and every path, to refuse a later clash), so without a limit an archive
   * of millions of empty entries, which compresses to almost nothing, grows
   * memory without bound. (A member name is at most 4,095 bytes, as on
   * Linux: a longer one is `MEMBER_PATH_UNSAFE`.)
   *
   * Each of the four limits must be a number above 0 (`Infinity` for no
   * limit): anything else, `NaN` included, is `INVALID_ARGUMENT`.
   * @defaultValue `DEFAULT_MAX_ENTRIES` (10,000)
   */
  readonly maxEntries?: number;
  /**
   * Compute the SHA-256 of every member ({@link MemberStats.sha256}), which
   * is what checks each member against the `sha256` the manifest lists for
   * it (`verifyDataset` and the staging importer always do).
   *
   * `false` skips those digests: they cost about as much CPU as
   * decompressing, on the thread that decodes, so without them raw lines
   * (`lineBatches({ encoding: 'buffer' })`) arrive faster. Turn them off
   * when you check the file itself: the SHA-256 of the stored file
   * ({@link DatasetStats.sha256}) is still computed, and it covers every
   * byte of every member, so comparing it with a digest you trust (the
   * one `writeDataset` returns, the `<file>.sha256` that `dataset build`
   * writes, a `SHA256SUMS`, a verified signature: see the verify module)
   * catches any change to any member just as well.
   *
   * What you give up: each member's digest, and with it the check of the
   * members against the manifest, which travels in the same file. That
   * check is the only one left when no trusted digest of the file is
   * checked, and the only one that names the member that differs. With
   * `false`, every {@link MemberStats.sha256} is `null`; byte and record
   * counts are still computed. Either way a digest is known only once its
   * bytes have been read: don't act on what you read before checking it.
   * Anything but `true` or `false` is refused (`INVALID_ARGUMENT`).
   * @defaultValue `true`
   */
  readonly memberDigests?: boolean;
  /** Stops reading (and closes the file) when fired. */
  readonly signal?: AbortSignal;
}

/**
 * A dataset being read. Iterate it once with `for await`; iteration throws a
 * {@link BackfillError} on bad input. `manifest()` and `stats()` settle when the
 * archive has been read to its end (or fail with the error that stopped it).
 * `Digest` is the type of each member's `sha256` (see {@link MemberStats}).
 */
export interface Dataset<Digest extends string | null = string | null> extends AsyncIterable<DatasetMember> {
  /** The parsed manifest, wherever it sits in the archive. */
  manifest(): ResultAsync<DatasetManifest, BackfillError>;
  /** Hashes and counts, once the archive has been read to its end. */
  stats(): ResultAsync<DatasetStats<Digest>, BackfillError>;
  /**
   * Reads the whole archive (draining every member) and resolves with the
   * stats and manifest: the cheapest way to hash and count a dataset.
   */
  scan(): ResultAsync<{ stats: DatasetStats<Digest>; manifest: DatasetManifest }, BackfillError>;
}
