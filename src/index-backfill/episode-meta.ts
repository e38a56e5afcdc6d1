import type { Duplex, Readable } from 'node:stream';
import { err, ok, type Result } from 'neverthrow';
import tar from 'tar-stream';
import { BackfillError } from '../errors.js';
import { decodingStages, decompressionError, detectCompression } from '../_internals/decompress.js';
import { DECODER_SLICE_BYTES } from './defaults.js';
import { parsePythonJson } from './python-json.js';

/** What the search for `meta.json` found: a commit, or the reason there is none. */
export type MetaOutcome =
  | { readonly commit: string; readonly problem?: undefined }
  | { readonly commit?: undefined; readonly problem: BackfillError };

/** Options of {@link MetaProbe}. */
export interface MetaProbeOptions {
  readonly path: string;
  readonly maxDecompressedBytes: number;
  readonly maxMetaBytes: number;
  readonly requireHexCommit: boolean;
}

// tarfile's isfile(): regular and contiguous files (tar-stream has no type for GNU sparse files).
const FILE_TYPES = new Set<string | null | undefined>(['file', 'contiguous-file']);
type EntryStream = tar.ExtractEvents['entry'][1];
const HEX40 = /^[0-9a-f]{40}$/i;
/** A gzip member's first bytes (magic and deflate), as Python's gzip module requires them. */
const GZIP_INNER = Buffer.from([0x1f, 0x8b, 0x08]);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function metaProblem(path: string, why: string, cause?: unknown): BackfillError {
  return new BackfillError('EPISODE_META_INVALID', `${path}: ${why}; the row is written without commit.`, {
    cause,
    context: { path, member: 'meta.json' },
  });
}

/**
 * The runbook tool's rule for `meta.json` → `code_version.commit`: a string of 40
 * characters (code points, as Python's `len`), lowercased. With
 * `requireHexCommit` it must also be hex.
 */
export function commitFromMeta(bytes: Buffer, path: string, requireHexCommit: boolean): Result<string, BackfillError> {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (e) {
    return err(metaProblem(path, 'meta.json is not valid UTF-8', e));
  }
  const parsed = parsePythonJson(text);
  if (parsed.isErr()) return err(metaProblem(path, `meta.json is not valid JSON (${parsed.error.message})`, parsed.error));
  const meta = parsed.value;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return err(metaProblem(path, 'meta.json is not a JSON object'));
  const codeVersion = (meta as Record<string, unknown>)['code_version'];
  const commit =
    codeVersion !== null && typeof codeVersion === 'object' && !Array.isArray(codeVersion)
      ? (codeVersion as Record<string, unknown>)['commit']
      : undefined;
  if (typeof commit !== 'string' || [...commit].length !== 40)
    return err(metaProblem(path, 'meta.json has no 40-character code_version.commit'));
  if (requireHexCommit && !HEX40.test(commit)) return err(metaProblem(path, 'code_version.commit in meta.json is not 40 hex digits'));
  return ok(commit.toLowerCase());
}

function tarProblem(path: string, error: unknown): BackfillError {
  if (error instanceof BackfillError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const truncated = /unexpected end/i.test(message);
  return new BackfillError(
    truncated ? 'TAR_TRUNCATED' : 'TAR_CORRUPT',
    `${path}: tar archive ${truncated ? 'ends inside a member' : 'is corrupt'} (${message}); the row is written without commit.`,
    {
      cause: error,
      context: { path },
    },
  );
}

async function readSmallEntry(entry: AsyncIterable<Buffer>, limit: number, path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of entry) {
    length += chunk.length;
    if (length > limit)
      throw metaProblem(
        path,
        `meta.json is larger than maxMetaBytes (${limit} bytes; --max-meta-bytes on the command line), so its commit was not read (a dry run shows this before anything is appended)`,
      );
    parts.push(chunk);
  }
  return Buffer.concat(parts, length);
}

/**
 * Looks for the first `meta.json` of an episode tarball while its bytes are
 * fed in, in archive order, as the runbook's tool does (`name.endswith("meta.json")`
 * and a regular file). Once it is found, or the archive proves unreadable,
 * the decoder is torn down and further writes are no-ops, so the caller can
 * keep reading (and hashing) the rest of the file without decompressing it.
 */
export class MetaProbe {
  readonly outcome: Promise<MetaOutcome>;
  #resolve!: (outcome: MetaOutcome) => void;
  #settled = false;
  #fed = 0;
  #stages: Duplex[] = [];

  constructor(private readonly options: MetaProbeOptions) {
    this.outcome = new Promise((resolve) => (this.#resolve = resolve));
  }

  /** True once the outcome is known; the caller may stop feeding. */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Feeds compressed bytes; resolves when the decoder can take more or the
   * search is over. What the decoder takes is copied, so the caller may
   * reuse `chunk`'s memory once this resolves.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.#settled) return;
    if (this.#stages.length === 0) this.#start(chunk);
    const decoder = this.#stages[0];
    for (let offset = 0; decoder !== undefined && offset < chunk.length && !this.#settled; offset += DECODER_SLICE_BYTES) {
      const slice = Buffer.from(chunk.subarray(offset, offset + DECODER_SLICE_BYTES));
      this.#fed += slice.length;
      if (!decoder.write(slice)) await Promise.race([new Promise((r) => decoder.once('drain', r)), this.outcome]);
      // Let the tar parser look at what came out before inflating more.
      if (!this.#settled) await new Promise(setImmediate);
    }
  }

  /** Signals the end of the file. */
  end(): void {
    if (this.#settled) return;
    const decoder = this.#stages[0];
    if (decoder === undefined)
      this.#settle({
        problem: new BackfillError('COMPRESSION_TRUNCATED', `${this.options.path}: the file is empty; the row is written without commit.`, {
          context: { path: this.options.path },
        }),
      });
    else decoder.end();
  }

  /** Gives up (for example on a read error) and releases the decoder. */
  stop(): void {
    this.#settle({
      problem: new BackfillError('ABORTED', `${this.options.path}: reading stopped.`, { context: { path: this.options.path } }),
    });
  }

  #settle(outcome: MetaOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    for (const stage of this.#stages) stage.destroy();
    this.#resolve(outcome);
  }

  #start(head: Buffer): void {
    const { path } = this.options;
    const compression = detectCompression(head);
    // The runbook's tool pipes the file through `zstd -d`, which also reads gzip; a plain tar makes it fail.
    if (compression !== 'zstd' && compression !== 'gzip') {
      this.#settle({
        problem: new BackfillError('COMPRESSION_CORRUPT', `${path}: not a zstd stream (magic bytes); the row is written without commit.`, {
          context: { path, offset: 0 },
        }),
      });
      return;
    }
    // Every zstd frame streamed: a frame decoded whole (the default for frames
    // of declared size up to 8 MiB) yields nothing until the probe has read
    // and copied all of it, so the probe read (and decoded) nearly every
    // tarball to the end to find a meta.json in its first kilobytes.
    this.#stages = decodingStages(compression, this.options.maxDecompressedBytes, true);
    // Plain pipe() and listeners: cheaper per tarball than stream.pipeline's bookkeeping.
    const [decoder, limit] = this.#stages as [Duplex, Duplex];
    const onError = (error: unknown): void => {
      // Named like every other problem: the CLI prints a warning's message alone.
      const problem = decompressionError(error, compression, this.#fed);
      this.#settle({
        problem: new BackfillError(problem.code, `${path}: ${problem.message}; the row is written without commit.`, {
          cause: problem,
          context: { ...problem.context, path },
        }),
      });
    };
    decoder.on('error', onError);
    limit.on('error', onError);
    const decoded: Readable = decoder.pipe(limit);
    // Python's tarfile reads v7 archives (no ustar magic) too.
    const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
    const feed = (source: Readable, head: Buffer, ended: boolean): void => {
      source.on('data', (chunk: Buffer) => {
        if (!extract.write(chunk)) source.pause();
      });
      extract.on('drain', () => source.resume());
      if (head.length > 0 && !extract.write(head)) source.pause();
      if (ended) extract.end(undefined);
      else source.on('end', () => extract.end(undefined));
    };
    // The runbook's tool opens what `zstd -d` gives with tarfile.open, which
    // also reads a gzip-compressed tar: a tarball compressed twice (a
    // .tar.gz put through zstd) has its commit found there, so here too.
    let sniffed = Buffer.alloc(0);
    const route = (ended: boolean): void => {
      decoded.off('data', sniffFirst);
      decoded.off('end', endedEarly);
      if (!(sniffed[0] === GZIP_INNER[0] && sniffed[1] === GZIP_INNER[1] && sniffed[2] === GZIP_INNER[2])) {
        feed(decoded, sniffed, ended);
        return;
      }
      // Its own bomb guard: the outer one counts only the gzip bytes.
      const inner = decodingStages('gzip', this.options.maxDecompressedBytes);
      this.#stages.push(...inner);
      const [gunzip, innerLimit] = inner as [Duplex, Duplex];
      const onInnerError = (error: unknown): void => {
        const problem = decompressionError(error, 'gzip', this.#fed);
        this.#settle({
          problem: new BackfillError(
            problem.code,
            `${path}: the gzip stream inside the ${compression} one: ${problem.message}; the row is written without commit.`,
            {
              cause: problem,
              context: { ...problem.context, path },
            },
          ),
        });
      };
      gunzip.on('error', onInnerError);
      innerLimit.on('error', onInnerError);
      gunzip.write(sniffed);
      if (ended) gunzip.end();
      else decoded.pipe(gunzip);
      feed(gunzip.pipe(innerLimit), Buffer.alloc(0), false);
    };
    const sniffFirst = (chunk: Buffer): void => {
      sniffed = Buffer.concat([sniffed, chunk]);
      if (sniffed.length >= GZIP_INNER.length) route(false);
    };
    const endedEarly = (): void => route(true);
    decoded.on('data', sniffFirst);
    decoded.on('end', endedEarly);
    extract.on('entry', (header, entry, next) => this.#onEntry(header, entry, next));
    extract.on('finish', () => this.#settle({ problem: metaProblem(path, 'the archive has no meta.json') }));
    extract.on('error', (error: unknown) => this.#settle({ problem: tarProblem(path, error) }));
  }

  // Entry events rather than the async iterator: leaving the iterator early
  // destroys the extractor, which builds an error with a stack trace per tarball.
  #onEntry(header: tar.Header, entry: EntryStream, next: () => void): void {
    const { path, maxMetaBytes, requireHexCommit } = this.options;
    // An archive that ends inside this entry destroys it with the extractor's error, which the
    // extractor's own 'error' reports: unheard here, it would be an uncaught exception.
    entry.on('error', () => undefined);
    if (!(header.name.endsWith('meta.json') && FILE_TYPES.has(header.type))) {
      // A directory's data is never read (what follows its header is parsed as
      // the next header, as Python's tarfile does), and when its header claims
      // a size the entry stream tar-stream hands out never ends: waiting for
      // it hung the probe, and every row after this tarball with it.
      if (header.type === 'directory') {
        next();
        return;
      }
      entry.on('end', () => next());
      entry.resume();
      return;
    }
    readSmallEntry(entry as unknown as AsyncIterable<Buffer>, maxMetaBytes, path).then(
      (bytes) =>
        this.#settle(
          commitFromMeta(bytes, path, requireHexCommit).match(
            (commit) => ({ commit }),
            (problem) => ({ problem }),
          ),
        ),
      (error: unknown) => this.#settle({ problem: tarProblem(path, error) }),
    );
  }
}
