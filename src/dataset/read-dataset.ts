import type { Readable } from 'node:stream';
import { ResultAsync, errAsync, okAsync } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import type { DecodeLimits } from '../_internals/decode-limits.js';
import { deferred } from '../_internals/deferred.js';
import { ArchiveMember, type MemberData } from './dataset-member.js';
import { openFile, openStream, type DecodedInput, type TarPiece } from './decoded-input.js';
import {
  DEFAULT_MAX_COMPRESSION_RATIO,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_LINE_BYTES,
  MANIFEST_NAME,
} from './defaults.js';
import { parseManifestBytes } from './manifest.js';
import { ExtractedPaths, checkMemberName } from './member-name.js';
import type { TarEvent, TarProblem } from './tar-parser.js';
import type { Dataset, DatasetManifest, DatasetMember, DatasetStats, MemberStats, ReadDatasetOptions } from './types.js';

function problemError(problem: TarProblem): BackfillError {
  return new BackfillError(problem.code, problem.message, {
    context: { offset: problem.offset, ...(problem.member === undefined ? {} : { member: problem.member }) },
  });
}

type WalkEvent = Exclude<TarEvent, { type: 'data' } | { type: 'error' }> | { readonly type: 'data'; readonly bytes: Buffer };

/**
 * Steps through the parser's events across pieces; a refusal is thrown as its
 * coded error. A piece read from a file is freed as soon as the walk moves
 * past it, unless the data handed out from it was kept: the main thread
 * allocates little while it only counts or decodes lines, so pieces left to
 * the garbage collector piled up (~40 MiB of peak RSS in `scan()`).
 */
class TarWalk {
  #piece: TarPiece | undefined;
  #index = 0;
  #kept = false;

  constructor(private readonly input: DecodedInput) {}

  async next(): Promise<WalkEvent> {
    for (;;) {
      const piece = this.#piece;
      if (piece && this.#index < piece.events.length) {
        const event = piece.events[this.#index++]!;
        if (event.type === 'data') return { type: 'data', bytes: piece.chunk.subarray(event.start, event.end) };
        if (event.type === 'error') throw problemError(event.problem);
        return event;
      }
      if (piece?.ownsBuffer && !this.#kept) (piece.chunk.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
      this.#piece = undefined;
      const next = await this.input.nextPiece();
      // The parser always ends with an end or an error event; this would be a bug.
      if (!next) throw new BackfillError('TAR_TRUNCATED', 'the tar stream stopped before its end.');
      this.#piece = next;
      this.#index = 0;
      this.#kept = false;
    }
  }

  /** The data last handed out stays referenced: its piece must not be freed. */
  keep(): void {
    this.#kept = true;
  }

  /** The data of the member whose header was just read, up to its end. */
  member(): MemberData {
    let ended = false;
    let sha256: string | null | undefined;
    const next = async (): Promise<Buffer | undefined> => {
      if (ended) return undefined;
      const event = await this.next();
      if (event.type === 'data') return event.bytes;
      if (event.type === 'member-end') {
        ended = true;
        sha256 = event.sha256;
        return undefined;
      }
      throw new BackfillError('TAR_CORRUPT', `the tar parser reported ${event.type} inside a member.`);
    };
    return {
      next,
      keep: () => this.keep(),
      get sha256() {
        return sha256;
      },
    };
  }
}

/** Decode limits: each a number above 0. */
const LIMIT_OPTIONS = ['maxDecompressedBytes', 'maxCompressionRatio', 'maxLineBytes', 'maxEntries'] as const;

/** What is wrong with the options, if anything: an option of the wrong type would otherwise be read as its default. */
function optionsProblem(options: ReadDatasetOptions): BackfillError | undefined {
  const { memberDigests } = options as { memberDigests?: unknown };
  if (memberDigests !== undefined && typeof memberDigests !== 'boolean') {
    return new BackfillError('INVALID_ARGUMENT', `memberDigests must be true or false; got ${shown(memberDigests)}.`);
  }
  // NaN compares false with everything: a limit of NaN would silently turn its guard off.
  for (const key of LIMIT_OPTIONS) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      return new BackfillError('INVALID_ARGUMENT', `${key} must be a number above 0 (Infinity for no limit); got ${shown(value)}.`);
    }
  }
  return undefined;
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

class DatasetReader implements Dataset {
  readonly #input: string | Readable;
  readonly #limits: DecodeLimits;
  readonly #maxLineBytes: number;
  readonly #maxEntries: number;
  readonly #signal: AbortSignal | undefined;
  readonly #hashMembers: boolean;
  /** A bad option, refused when reading starts (`readDataset` itself never throws). */
  readonly #invalid: BackfillError | undefined;
  readonly #stats = deferred<DatasetStats>();
  readonly #manifest = deferred<DatasetManifest>();
  #started = false;

  constructor(input: string | Readable, options: ReadDatasetOptions) {
    this.#input = input;
    this.#limits = {
      maxBytes: options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES,
      maxRatio: options.maxCompressionRatio ?? DEFAULT_MAX_COMPRESSION_RATIO,
    };
    this.#maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#signal = options.signal;
    this.#invalid = optionsProblem(options);
    this.#hashMembers = options.memberDigests !== false;
  }

  manifest(): ResultAsync<DatasetManifest, BackfillError> {
    this.#scanIfIdle();
    return ResultAsync.fromPromise(this.#manifest.promise, (e) => toBackfillError(e));
  }

  stats(): ResultAsync<DatasetStats, BackfillError> {
    this.#scanIfIdle();
    return ResultAsync.fromPromise(this.#stats.promise, (e) => toBackfillError(e));
  }

  scan(): ResultAsync<{ stats: DatasetStats; manifest: DatasetManifest }, BackfillError> {
    if (this.#started) {
      return errAsync(
        new BackfillError('INVALID_ARGUMENT', 'this dataset is already being read; call readDataset again to read it twice.'),
      );
    }
    return ResultAsync.fromPromise(
      (async () => {
        for await (const member of this) void member; // each member is drained by the iterator
      })(),
      (e) => toBackfillError(e),
    ).andThen(() => this.stats().andThen((stats) => this.manifest().map((manifest) => ({ stats, manifest }))));
  }

  /** `manifest()` or `stats()` without iterating would wait forever; read the archive instead. */
  #scanIfIdle(): void {
    if (this.#started) return;
    setImmediate(() => {
      if (!this.#started) void this.scan().orElse(() => okAsync(undefined));
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<DatasetMember> {
    if (this.#started) {
      throw new BackfillError('INVALID_ARGUMENT', 'a dataset can be iterated once; call readDataset again to read it twice.');
    }
    this.#started = true;
    const where = typeof this.#input === 'string' ? { path: this.#input } : {};
    let aborted: BackfillError | undefined;
    let input: DecodedInput | undefined;
    const onAbort = (): void => {
      aborted = new BackfillError('ABORTED', 'reading the dataset was aborted.');
      input?.close();
    };
    this.#signal?.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    try {
      if (this.#invalid) throw this.#invalid;
      if (this.#signal?.aborted) onAbort();
      if (aborted) throw aborted;
      const hashMembers = this.#hashMembers;
      input = await (typeof this.#input === 'string'
        ? openFile(this.#input, this.#limits, hashMembers)
        : openStream(this.#input, this.#limits, hashMembers));
      if (aborted) throw aborted;
      const walk = new TarWalk(input);
      const paths = new ExtractedPaths();
      const members: MemberStats[] = [];
      let manifestBytes: Buffer | undefined;
      let tarBytes = 0;
      let entries = 0;
      for (;;) {
        const event = await walk.next();
        if (event.type === 'end') {
          tarBytes = event.offset;
          break;
        }
        if (event.type !== 'member' && event.type !== 'directory') {
          throw new BackfillError('TAR_CORRUPT', `the tar parser reported ${event.type} between members.`);
        }
        entries += 1;
        const kind = event.type === 'member' ? 'file' : 'directory';
        const name = checkMemberName(event.name, kind);
        const clash = paths.add(name, event.name, kind);
        if (clash !== undefined) {
          throw new BackfillError(
            'MEMBER_DUPLICATE',
            `${clash}: tar -x cannot extract both as they are read; rebuild the archive with each file once, and no file named like a directory.`,
            { context: { member: name, offset: event.offset } },
          );
        }
        // Every entry and every path is kept until the end (a member's stats, the paths to refuse a later clash).
        if (entries > this.#maxEntries || paths.count > this.#maxEntries) {
          throw new BackfillError(
            'SIZE_LIMIT_EXCEEDED',
            `the archive holds more than ${this.#maxEntries} entries (files and directories, with those its member names imply); raise maxEntries if it really holds that many.`,
            { context: { member: name, offset: event.offset } },
          );
        }
        if (event.type === 'directory') continue;
        const member = new ArchiveMember(name, event.size, walk.member(), this.#maxLineBytes);
        yield member;
        members.push(await member.finish());
        if (name === MANIFEST_NAME) manifestBytes = member.manifestBytes();
      }
      const stored = await input.stored;
      finished = true;
      this.#stats.resolve({ compression: input.compression, sha256: stored.sha256, bytes: stored.bytes, tarBytes, members });
      if (manifestBytes === undefined) {
        this.#manifest.reject(
          new BackfillError(
            'MANIFEST_MISSING',
            'the archive has no manifest.json; build the dataset with writeDataset or add a schema-1 manifest.',
          ),
        );
      } else {
        parseManifestBytes(manifestBytes).match(this.#manifest.resolve, this.#manifest.reject);
      }
    } catch (e) {
      const error = aborted ?? toBackfillError(e, 'IO_ERROR', where);
      this.#stats.reject(error);
      this.#manifest.reject(error);
      throw error;
    } finally {
      this.#signal?.removeEventListener('abort', onAbort);
      input?.close();
      // Refused before the input was opened (bad options, aborted): a caller's stream is released all the same.
      if (input === undefined && typeof this.#input !== 'string') this.#input.destroy();
      if (!finished) {
        const stopped = new BackfillError('ABORTED', 'iteration stopped before the end of the archive.');
        this.#stats.reject(stopped);
        this.#manifest.reject(stopped);
      }
    }
  }
}

/**
 * Opens a dataset tarball (`.tar.zst`, `.tar.gz` or plain `.tar`, detected
 * from magic bytes; a file whose first block is a tar header and the start
 * of a gzip or zstd stream at once, two archives to `tar -xf` and to
 * `gunzip` or `zstd -dc`, is `UNSUPPORTED_FORMAT`) for streaming. A path must name a regular file: a pipe
 * (`<(curl …)`, a FIFO) or a device is `IO_ERROR`; pass a pipe as a
 * `Readable` instead. Nothing is extracted to disk and no member
 * is held in memory. One pass computes the SHA-256 of the stored file and of
 * every member, plus byte and record counts ({@link Dataset.stats}).
 * `memberDigests: false` leaves out the members' digests, for faster raw
 * lines when the file's digest is checked against a trusted one instead
 * (see {@link ReadDatasetOptions.memberDigests} for what that gives up).
 *
 * A path and a Readable of the same bytes give the same members, bytes,
 * hashes and errors: one tar parser decides which bytes belong to a member,
 * and hashes exactly the bytes it hands out. Reading stops at the end of the
 * archive (its first zero block, as GNU tar does); what follows is never
 * parsed, but a compressed file is decompressed to its end, so a corrupt gzip
 * CRC or zstd checksum, a stream cut short or bytes appended after it fail
 * the read (`COMPRESSION_CORRUPT`, `COMPRESSION_TRUNCATED`) once the last
 * member has been handed out, before `stats()` and `manifest()` settle.
 *
 * What is read is what `tar -x` extracts: entries it would extract
 * otherwise, or not at all, are refused. Two spellings of one name, a
 * directory named like a file member and a file where another member needs
 * a directory (`x` beside `x/a.ndjson`) are `MEMBER_DUPLICATE`; a directory
 * header claiming data, which GNU tar reads as the entries that follow, is
 * `MEMBER_TYPE_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * const ds = readDataset('out/linksets/linksets-stage-backfill.tar.zst');
 * for await (const member of ds) {
 *   if (member.name !== 'linksets.ndjson') continue; // skipped members are drained
 *   for await (const { line, value } of member.records()) console.log(line, value._id);
 * }
 * const manifest = await ds.manifest(); // Result<DatasetManifest, BackfillError>
 * ```
 */
export function readDataset(input: string | Readable, options?: ReadDatasetOptions & { readonly memberDigests?: true }): Dataset<string>;
/** With `memberDigests: false`: every member's `sha256` is `null` (see {@link ReadDatasetOptions.memberDigests}). */
export function readDataset(input: string | Readable, options: ReadDatasetOptions & { readonly memberDigests: false }): Dataset<null>;
/** Member digests chosen at run time: `sha256` is a string or `null`, as the option says. */
export function readDataset(input: string | Readable, options?: ReadDatasetOptions): Dataset;
export function readDataset(input: string | Readable, options: ReadDatasetOptions = {}): Dataset {
  return new DatasetReader(input, options);
}
