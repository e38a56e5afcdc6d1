import { open } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { ResultAsync, errAsync, okAsync } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { HashingPassThrough } from '../_internals/hashing-stream.js';
import { SNIFF_BYTES, decodingStages, decompressionError, detectCompression, sizeLimitError, sniff } from '../_internals/decompress.js';
import { startDecodeWorker, type StoredDigest } from './decode-worker.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_LINE_BYTES, MANIFEST_NAME } from './defaults.js';
import { ArchiveMember } from './dataset-member.js';
import { parseManifest } from './manifest.js';
import { checkMemberName } from './member-name.js';
import type { Compression, Dataset, DatasetManifest, DatasetMember, DatasetStats, MemberStats, ReadDatasetOptions } from './types.js';

type TarEntry = tar.ExtractEvents['entry'][1];

/** Compressed bytes per worker read: small reads keep decoded chunks small. */
const WORKER_READ_BYTES = 128 * 1024;

const REGULAR_FILE_TYPES = new Set(['file', 'contiguous-file']);

/** A promise that settles once, with its callbacks exposed. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: BackfillError) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: BackfillError) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // settled-but-unobserved is fine
  return { promise, resolve, reject };
}

function tarError(error: unknown, offset: number): BackfillError {
  if (error instanceof BackfillError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const truncated = /unexpected end/i.test(message);
  return new BackfillError(
    truncated ? 'TAR_TRUNCATED' : 'TAR_CORRUPT',
    truncated ? `tar archive ends inside a member (after ${offset} tar bytes); the file is incomplete.` : `tar header is invalid near tar byte ${offset}: ${message}`,
    { cause: error, context: { offset } },
  );
}

class DatasetReader implements Dataset {
  readonly #input: string | Readable;
  readonly #maxDecompressedBytes: number;
  readonly #maxLineBytes: number;
  readonly #signal: AbortSignal | undefined;
  readonly #stats = deferred<DatasetStats>();
  readonly #manifest = deferred<DatasetManifest>();
  #started = false;

  constructor(input: string | Readable, options: ReadDatasetOptions) {
    this.#input = input;
    this.#maxDecompressedBytes = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
    this.#maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.#signal = options.signal;
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
      return errAsync(new BackfillError('INVALID_ARGUMENT', 'this dataset is already being read; call readDataset again to read it twice.'));
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
    let failure: BackfillError | undefined;
    const fail = (error: BackfillError): BackfillError => (failure ??= error);
    let opened: OpenedInput | undefined;
    const onAbort = (): void => {
      opened?.tar.destroy(fail(new BackfillError('ABORTED', 'reading the dataset was aborted.')));
    };
    this.#signal?.addEventListener('abort', onAbort, { once: true });
    const extract = tar.extract();
    let tarBytes = 0;
    let finished = false;
    try {
      this.#signal?.throwIfAborted();
      opened = await (typeof this.#input === 'string'
        ? openFile(this.#input, this.#maxDecompressedBytes, fail)
        : openStream(this.#input, this.#maxDecompressedBytes, fail));
      const decoded = opened.tar;
      // Feed tar-stream by hand: it is a streamx Writable, and explicit
      // backpressure keeps memory flat.
      const pumped = (async () => {
        try {
          for await (const chunk of decoded as AsyncIterable<Buffer>) {
            tarBytes += chunk.length;
            if (!extract.write(chunk)) await new Promise<void>((r) => extract.once('drain', () => r()));
          }
          extract.end(undefined);
        } catch (e) {
          extract.destroy(fail(toBackfillError(e, 'COMPRESSION_CORRUPT', where)));
        }
      })();

      const entries = extract[Symbol.asyncIterator]();
      const mapTar = (e: unknown): BackfillError => failure ?? fail(tarError(e, tarBytes));
      const seen = new Set<string>();
      const members: MemberStats[] = [];
      let manifestText: string | undefined;
      for (;;) {
        let next: IteratorResult<TarEntry>;
        try {
          next = await entries.next();
        } catch (e) {
          throw mapTar(e);
        }
        if (next.done) break;
        const entry = next.value;
        const { header } = entry;
        if (header.type === 'directory') {
          checkMemberName(header.name === './' ? '.' : header.name);
          entry.resume();
          continue;
        }
        const name = checkMemberName(header.name);
        if (!REGULAR_FILE_TYPES.has(header.type ?? 'file')) {
          throw fail(
            new BackfillError('MEMBER_TYPE_UNSUPPORTED', `member ${JSON.stringify(name)} is a ${header.type}; datasets hold regular files only (no links or devices).`, {
              context: { member: name },
            }),
          );
        }
        if (seen.has(name)) {
          throw fail(new BackfillError('MEMBER_DUPLICATE', `member ${JSON.stringify(name)} appears twice in the archive; rebuild it with unique names.`, { context: { member: name } }));
        }
        seen.add(name);
        const index = seen.size - 1;
        const digest = opened.memberDigest && (() => opened!.memberDigest!(index));
        const member = new ArchiveMember(name, header.size ?? 0, entry[Symbol.asyncIterator]() as AsyncIterator<Buffer>, this.#maxLineBytes, mapTar, digest);
        yield member;
        members.push(await member.finish());
        if (name === MANIFEST_NAME) manifestText = member.manifestText();
      }
      await pumped;
      const stored = await opened.stored;
      if (failure) throw failure;
      finished = true;
      this.#stats.resolve({ compression: opened.compression, sha256: stored.sha256, bytes: stored.bytes, tarBytes, members });
      if (manifestText === undefined) {
        this.#manifest.reject(new BackfillError('MANIFEST_MISSING', 'the archive has no manifest.json; build the dataset with writeDataset or add a schema-1 manifest.'));
      } else {
        parseManifest(manifestText).match(this.#manifest.resolve, this.#manifest.reject);
      }
    } catch (e) {
      const error = failure ?? toBackfillError(e, 'IO_ERROR', where);
      this.#stats.reject(error);
      this.#manifest.reject(error);
      throw error;
    } finally {
      this.#signal?.removeEventListener('abort', onAbort);
      if (!finished) {
        const stopped = new BackfillError('ABORTED', 'iteration stopped before the end of the archive.');
        this.#stats.reject(stopped);
        this.#manifest.reject(stopped);
        extract.destroy();
        opened?.tar.destroy();
      }
    }
  }
}

/** The decoded tar stream of an input, and the digest of its stored bytes. */
interface OpenedInput {
  readonly compression: Compression;
  readonly tar: Readable;
  readonly stored: Promise<StoredDigest>;
  /** Digests of the regular members in order, when something else already hashed them. */
  readonly memberDigest?: (index: number) => Promise<StoredDigest>;
}

function unsupported(head: Buffer, where: { path?: string }): BackfillError {
  return new BackfillError(
    'UNSUPPORTED_FORMAT',
    `${where.path ?? 'input'} is ${head.length === 0 ? 'empty' : 'not a tar, tar.gz or tar.zst archive (magic bytes)'}; pass a dataset tarball.`,
    { context: where },
  );
}

/** A file is decoded on two worker threads (see decode-worker.ts). */
async function openFile(path: string, maxBytes: number, fail: (e: BackfillError) => BackfillError): Promise<OpenedInput> {
  const head = Buffer.alloc(SNIFF_BYTES);
  let length: number;
  try {
    const handle = await open(path, 'r');
    try {
      ({ bytesRead: length } = await handle.read(head, 0, SNIFF_BYTES, 0));
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw fail(toBackfillError(e, 'IO_ERROR', { path }));
  }
  const compression = detectCompression(head.subarray(0, length));
  if (compression === undefined) throw fail(unsupported(head.subarray(0, length), { path }));
  const { tar: decoded, stored, memberDigest } = startDecodeWorker(path, compression, maxBytes, WORKER_READ_BYTES, (f) => {
    if (f.stage === 'limit') return fail(sizeLimitError(maxBytes));
    if (f.stage === 'io') return fail(toBackfillError(Object.assign(new Error(`${path}: ${f.message}`), f.code ? { code: f.code } : {}), 'IO_ERROR', { path }));
    return fail(decompressionError(Object.assign(new Error(f.message), f.code ? { code: f.code } : {}), compression, f.offset));
  });
  return { compression, tar: decoded, stored, memberDigest };
}

/** A caller's Readable is decoded on this thread. */
async function openStream(source: Readable, maxBytes: number, fail: (e: BackfillError) => BackfillError): Promise<OpenedInput> {
  source.on('error', (e: unknown) => fail(toBackfillError(e, 'IO_ERROR')));
  const { head, stream } = await sniff(source).catch((e: unknown) => {
    throw fail(toBackfillError(e, 'IO_ERROR'));
  });
  const compression = detectCompression(head);
  if (compression === undefined) {
    source.destroy();
    throw fail(unsupported(head, {}));
  }
  const hasher = new HashingPassThrough();
  const stages = decodingStages(compression, maxBytes);
  if (compression !== 'none') stages[0]!.on('error', (e) => fail(decompressionError(e, compression, hasher.bytes)));
  const decoded = pipeline([stream, hasher, ...stages], (e) => {
    if (e) fail(toBackfillError(e, 'COMPRESSION_CORRUPT'));
  }) as unknown as Readable;
  const stored = new Promise<StoredDigest>((resolve, reject) => {
    decoded.once('end', () => resolve({ sha256: hasher.digest(), bytes: hasher.bytes }));
    decoded.once('close', () => reject(new BackfillError('ABORTED', 'the input closed before its end.')));
  });
  stored.catch(() => undefined);
  return { compression, tar: decoded, stored };
}

/**
 * Opens a dataset tarball (`.tar.zst`, `.tar.gz` or plain `.tar`, detected
 * from magic bytes) for streaming. Nothing is extracted to disk and no member
 * is held in memory. One pass computes the SHA-256 of the stored file and of
 * every member, plus byte and record counts ({@link Dataset.stats}).
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
export function readDataset(input: string | Readable, options: ReadDatasetOptions = {}): Dataset {
  return new DatasetReader(input, options);
}
