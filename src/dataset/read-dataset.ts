import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { ResultAsync, errAsync, okAsync } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { HashingPassThrough } from '../_internals/hashing-stream.js';
import { decodingStages, decompressionError, detectCompression, sniff } from '../_internals/decompress.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_LINE_BYTES, MANIFEST_NAME, READ_CHUNK_BYTES } from './defaults.js';
import { ArchiveMember } from './dataset-member.js';
import { parseManifest } from './manifest.js';
import { checkMemberName } from './member-name.js';
import type { Dataset, DatasetManifest, DatasetMember, DatasetStats, MemberStats, ReadDatasetOptions } from './types.js';

type TarEntry = tar.ExtractEvents['entry'][1];

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
    const path = typeof this.#input === 'string' ? this.#input : undefined;
    const source = typeof this.#input === 'string' ? createReadStream(this.#input, { highWaterMark: READ_CHUNK_BYTES }) : this.#input;
    let failure: BackfillError | undefined;
    const fail = (error: BackfillError): BackfillError => (failure ??= error);
    const onAbort = (): void => {
      const error = fail(new BackfillError('ABORTED', 'reading the dataset was aborted.'));
      source.destroy(error);
    };
    this.#signal?.addEventListener('abort', onAbort, { once: true });
    source.on('error', (e: unknown) => fail(toBackfillError(e, 'IO_ERROR', path === undefined ? {} : { path })));
    const extract = tar.extract();
    let hasher: HashingPassThrough | undefined;
    let tarBytes = 0;
    let finished = false;
    try {
      if (this.#signal?.aborted) onAbort();
      if (failure) throw failure;
      const { head, stream } = await sniff(source).catch((e: unknown) => {
        throw failure ?? toBackfillError(e, 'IO_ERROR', path === undefined ? {} : { path });
      });
      const compression = detectCompression(head);
      if (compression === undefined) {
        throw fail(
          new BackfillError('UNSUPPORTED_FORMAT', `${path ?? 'input'} is ${head.length === 0 ? 'empty' : 'not a tar, tar.gz or tar.zst archive (magic bytes)'}; pass a dataset tarball.`, {
            context: path === undefined ? {} : { path },
          }),
        );
      }
      hasher = new HashingPassThrough();
      const counted = hasher;
      const stages = decodingStages(compression, this.#maxDecompressedBytes);
      const decoder = compression === 'none' ? undefined : stages[0];
      decoder?.on('error', (e) => fail(decompressionError(e, compression, counted.bytes)));
      const decoded = pipeline([stream, hasher, ...stages], (e) => {
        if (e) fail(toBackfillError(e, 'COMPRESSION_CORRUPT'));
      }) as unknown as Readable;
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
          extract.destroy(fail(toBackfillError(e, 'COMPRESSION_CORRUPT')));
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
        const member = new ArchiveMember(name, header.size ?? 0, entry[Symbol.asyncIterator]() as AsyncIterator<Buffer>, this.#maxLineBytes, mapTar);
        yield member;
        members.push(await member.finish());
        if (name === MANIFEST_NAME) manifestText = member.manifestText();
      }
      await pumped;
      await new Promise<void>((resolve) => {
        if (decoded.readableEnded || decoded.destroyed) resolve();
        else decoded.once('close', () => resolve());
      });
      if (failure) throw failure;
      finished = true;
      this.#stats.resolve({ compression, sha256: hasher.digest(), bytes: hasher.bytes, tarBytes, members });
      if (manifestText === undefined) {
        this.#manifest.reject(new BackfillError('MANIFEST_MISSING', 'the archive has no manifest.json; build the dataset with writeDataset or add a schema-1 manifest.'));
      } else {
        parseManifest(manifestText).match(this.#manifest.resolve, this.#manifest.reject);
      }
    } catch (e) {
      const error = failure ?? toBackfillError(e);
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
        source.destroy();
      }
    }
  }
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
