import { realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ResultAsync, err, ok, type Result } from 'neverthrow';
import { BackfillError, toBackfillError, type BackfillErrorCode } from '../errors.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { progressOf } from '../_internals/progress.js';
import { verifyBlobBytes, type BlobSignatureVerification } from './blob-signature.js';
import { parseChecksums, type ChecksumLineFormat } from './checksums-file.js';
import { DEFAULT_HASH_CONCURRENCY } from './defaults.js';
import { checkHashOptions, hashFile, mapBounded, type FileDigest } from './hash-file.js';
import type { KeyInput } from './keys.js';
import { joinBytes, openedOutside, resolveUnder, unsafePathReason } from './safe-path.js';
import { readWholeFile } from './read-whole-file.js';

/**
 * The verdict on one listed file. `sha256sum --check` prints `OK` for `OK`,
 * `FAILED` for `FAILED`, `FAILED open or read` for `MISSING` and
 * `UNREADABLE` (a directory, FIFO, socket or device is `UNREADABLE`), and
 * nothing for `SKIPPED`. `UNSAFE` is this library's own: the entry was
 * refused, not read (absolute, `..` above the base, `-`, or a symlink that
 * leads out of the base directory).
 */
export type ChecksumStatus = 'OK' | 'FAILED' | 'MISSING' | 'UNREADABLE' | 'SKIPPED' | 'UNSAFE';

/** One listed file, its expected and actual digest, and the verdict. */
export interface ChecksumResult {
  /** 1-based line in the sums file. */
  readonly line: number;
  /** The name as listed (unescaped), decoded as UTF-8. */
  readonly path: string;
  readonly format: ChecksumLineFormat;
  /** Expected SHA-256, lowercase hex. */
  readonly expected: string;
  /** Actual SHA-256, or `null` when the file was not read. */
  readonly actual: string | null;
  /** Bytes hashed, or `null` when the file was not read. */
  readonly bytes: number | null;
  readonly status: ChecksumStatus;
  /** The error code for any status but `OK` and `SKIPPED`. */
  readonly code?: BackfillErrorCode;
}

/** Counters over the whole sums file. */
export interface ChecksumCounts {
  readonly listed: number;
  readonly ok: number;
  readonly failed: number;
  readonly missing: number;
  readonly skipped: number;
  readonly unreadable: number;
  readonly unsafe: number;
  /** Improperly formatted lines (fatal only under `strict`). */
  readonly malformed: number;
  readonly blank: number;
  readonly comments: number;
}

/** What {@link verifyChecksums} found. */
export interface ChecksumReport {
  /**
   * `true` exactly when `sha256sum --check` (with the same flags) would
   * exit 0, no entry was refused as unsafe and no line holds a NUL byte
   * (a line `sha256sum` checks, with its name cut at the NUL).
   */
  readonly ok: boolean;
  readonly sumsPath: string;
  readonly baseDir: string;
  readonly strict: boolean;
  readonly ignoreMissing: boolean;
  /** Every well-formed line, in file order. */
  readonly entries: readonly ChecksumResult[];
  readonly counts: ChecksumCounts;
  /** Line numbers of improperly formatted lines. */
  readonly malformedLines: readonly number[];
  /** One coded error per problem (mismatch, missing file, unsafe path, malformed line…), in line order. */
  readonly problems: readonly BackfillError[];
  /** The verified signature over the sums file when `signature` was given, else `null`. */
  readonly signature: BlobSignatureVerification | null;
}

/** Progress of {@link verifyChecksums}. */
export interface ChecksumProgress {
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly bytesHashed: number;
}

/** What {@link verifyChecksums} and `writeChecksums` both accept: how files are hashed, and what to tell along the way. */
export interface HashingOptions {
  /**
   * Files hashed at the same time.
   * @defaultValue `DEFAULT_HASH_CONCURRENCY` (4)
   */
  readonly concurrency?: number;
  /**
   * Read size when hashing, in bytes.
   * @defaultValue `DEFAULT_HASH_CHUNK_BYTES` (4 MiB)
   */
  readonly chunkBytes?: number;
  /** Stops the work; the result is then `Err` with `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Called as each file (or member) has been read. A callback that throws is ignored (logged once at warn). */
  readonly onProgress?: (progress: ChecksumProgress) => void;
  /** Receives a summary line at the end. */
  readonly logger?: Logger;
}

/** Options for {@link verifyChecksums}. */
export interface VerifyChecksumsOptions extends HashingOptions {
  /**
   * Improperly formatted lines make the report fail, like `--strict`.
   * @defaultValue `false`
   */
  readonly strict?: boolean;
  /**
   * Listed files that do not exist are skipped, like `--ignore-missing`
   * (but at least one file must still verify).
   * @defaultValue `false`
   */
  readonly ignoreMissing?: boolean;
  /**
   * Directory the listed names are relative to.
   * @defaultValue the directory of `sumsPath`, or the working directory when
   * `sumsPath` is a file descriptor's path (`<(curl …)` gives `/dev/fd/63`;
   * see {@link defaultChecksumsBaseDir})
   */
  readonly baseDir?: string;
  /**
   * Follow symlinks wherever they lead, as `sha256sum --check` does. By
   * default a listed name whose real path (every symlink followed) lies
   * outside `baseDir` is refused as `UNSAFE` and not opened. Absolute names
   * and `..` above the base stay refused either way.
   * @defaultValue `false`
   */
  readonly followSymlinksOutside?: boolean;
  /**
   * A detached signature over the sums file, checked as
   * `cosign verify-blob --key` does (see `verifyBlobSignature`) over the
   * very bytes whose lines are then checked: the sums file is read once.
   * A signature that does not verify is `Err` before any file is hashed.
   * Only an absent value means no signature (`null` is `INVALID_ARGUMENT`).
   */
  readonly signature?: ChecksumsSignature;
}

/** A detached cosign-style signature and the key to check it with (see {@link VerifyChecksumsOptions.signature}). */
export interface ChecksumsSignature {
  /** The `.sig` file's content: base64 of an ECDSA P-256 (DER) or RSA PKCS#1 v1.5 signature. */
  readonly signatureBase64: string;
  /** ECDSA P-256 or RSA public key (PEM, DER or `KeyObject`). */
  readonly publicKey: KeyInput;
}

type Hashed = { digest: FileDigest } | { error: unknown } | { unsafe: string };

function statusOfReadError(error: unknown, ignoreMissing: boolean): ChecksumStatus {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOENT') return ignoreMissing ? 'SKIPPED' : 'MISSING';
  return 'UNREADABLE';
}

/** A file descriptor's path (`/dev/fd/63`, `/dev/stdin`, `/proc/self/fd/0`): what a shell's process substitution or a pipe into the command names. */
const DESCRIPTOR_PATH = /^\/(dev\/(fd\/\d+|stdin)|proc\/(self|thread-self|\d+)\/fd\/\d+)$/;

/**
 * The directory a sums file's names are relative to when none is given:
 * the sums file's own, except for a file descriptor's path such as
 * `<(curl …)`'s `/dev/fd/63` or `/dev/stdin`, whose directory holds no
 * files: then `cwd`, as `sha256sum --check` reads every name.
 *
 * @example
 * ```ts
 * defaultChecksumsBaseDir('/dev/fd/63', '/srv/release'); // '/srv/release'
 * defaultChecksumsBaseDir('artifacts/SHA256SUMS', '/srv'); // '/srv/artifacts'
 * ```
 */
export function defaultChecksumsBaseDir(sumsPath: string, cwd: string): string {
  const path = resolve(cwd, sumsPath);
  return DESCRIPTOR_PATH.test(path) ? cwd : dirname(path);
}

/**
 * Checks the files listed in a `SHA256SUMS` file and reaches the same
 * verdicts as GNU `sha256sum --check`: same line forms (text, binary,
 * escaped names, BSD `--tag`), malformed lines counted and fatal under
 * `strict`, missing files skipped under `ignoreMissing`, and the report
 * fails unless at least one file matched. Files are hashed in parallel
 * (bounded by `concurrency`), each once even if listed twice.
 *
 * Entries whose name is absolute, climbs out of `baseDir` with `..`, is
 * `-` (standard input to `sha256sum`), or whose real path lies outside
 * `baseDir` through a symlink (unless `followSymlinksOutside`) are refused
 * (`CHECKSUM_PATH_UNSAFE`) without being opened. A directory on the way
 * swapped for such a symlink between that check and the open is caught
 * once the file is open (the kernel says which file it is), before
 * anything is read: `UNSAFE` too. Only regular files are
 * read: a directory, FIFO, socket or device is `UNREADABLE` and is never
 * opened for reading, so nothing listed can block the call; `signal` stops
 * it at any point, even while the sums file itself is a pipe with no writer.
 *
 * The sums file is read once, whole (up to `MAX_WHOLE_FILE_BYTES`, 16 MiB):
 * with `signature`, what the signature covers is exactly what is checked,
 * even if the path is replaced meanwhile. It may be a pipe either way.
 *
 * The result is `Ok(report)` whenever the sums file could be read (and its
 * signature verified); check `report.ok`. It is `Err` only when the sums
 * file cannot be read, its signature does not verify (`SIGNATURE_INVALID`,
 * `BASE64_INVALID`, `KEY_INVALID`), an option is invalid, or `signal` fired
 * (`ABORTED`).
 *
 * @example
 * ```ts
 * // replaces: cosign verify-blob --key cosign.pub --signature SHA256SUMS.sig SHA256SUMS && sha256sum --check --strict SHA256SUMS
 * const signature = { signatureBase64: readFileSync('bundle/SHA256SUMS.sig', 'utf8'), publicKey: readFileSync('cosign.pub', 'utf8') };
 * const result = await verifyChecksums('bundle/SHA256SUMS', { strict: true, signature });
 * if (result.isErr()) throw result.error;
 * for (const e of result.value.entries) console.log(`${e.path}: ${e.status}`);
 * if (!result.value.ok) process.exitCode = 1;
 * ```
 */
export function verifyChecksums(sumsPath: string, options: VerifyChecksumsOptions = {}): ResultAsync<ChecksumReport, BackfillError> {
  const ioError = (error: unknown): BackfillError => toBackfillError(error, 'IO_ERROR', { path: sumsPath });
  return checkHashOptions(options)
    .asyncAndThen(() => ResultAsync.fromPromise(readWholeFile(sumsPath, options.signal), ioError))
    .andThen((sums) =>
      checkSignature(sumsPath, sums, options.signature).asyncAndThen((verified) =>
        ResultAsync.fromPromise(run(sumsPath, sums, verified, options), ioError),
      ),
    );
}

function checkSignature(
  sumsPath: string,
  sums: Buffer,
  signature: ChecksumsSignature | undefined,
): Result<BlobSignatureVerification | null, BackfillError> {
  if (signature === undefined) return ok(null);
  // Only an absent signature means none: a `null` from a config file must not be read as one, nor throw.
  if (typeof signature !== 'object' || signature === null)
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        `signature must be { signatureBase64, publicKey } or absent, got ${signature === null ? 'null' : typeof signature}.`,
      ),
    );
  return verifyBlobBytes(sumsPath, sums, signature.signatureBase64, signature.publicKey);
}

async function run(
  sumsPath: string,
  sums: Buffer,
  signature: BlobSignatureVerification | null,
  options: VerifyChecksumsOptions,
): Promise<ChecksumReport> {
  const strict = options.strict ?? false;
  const ignoreMissing = options.ignoreMissing ?? false;
  const baseDir = resolve(options.baseDir ?? defaultChecksumsBaseDir(sumsPath, process.cwd()));
  const logger = loggerOf(options.logger);
  const onProgress = progressOf(options.onProgress, logger, 'verifyChecksums');
  const { signal } = options;
  if (signal?.aborted) throw new BackfillError('ABORTED', 'The operation was aborted.');
  const parsed = parseChecksums(sums);
  // A missing base directory is no error here: every entry then reports its file missing.
  const realBaseDir = await realpath(baseDir).catch(() => baseDir);

  // Hash each distinct, safe path once, however often it is listed.
  const unsafe = new Map<string, string>();
  const toHash = new Map<string, Buffer>();
  for (const entry of parsed.entries) {
    const key = entry.pathBytes.toString('latin1');
    const reason = unsafePathReason(entry.pathBytes);
    if (reason !== undefined) unsafe.set(key, reason);
    else if (entry.pathBytes.length > 0) toHash.set(key, joinBytes(baseDir, entry.pathBytes));
  }
  let filesDone = 0;
  let bytesHashed = 0;
  const filesTotal = toHash.size;
  const keys = [...toHash.keys()];
  const hashOne = async (path: Buffer): Promise<Hashed> => {
    const hashing = { signal, chunkBytes: options.chunkBytes, onChunk: (chunk: Buffer) => (bytesHashed += chunk.length) };
    if (options.followSymlinksOutside === true) return { digest: await hashFile(path, hashing) };
    const resolved = await resolveUnder(realBaseDir, path);
    if ('error' in resolved) return { error: resolved.error };
    if (!resolved.inside) return { unsafe: `leads out of the base directory through a symlink (to ${resolved.realPath.toString('utf8')})` };
    // Open the path that was checked, not the name, which could be re-pointed in between; a directory
    // on the way swapped for a symlink meanwhile still leads the open elsewhere, so the opened file is checked too.
    let outside: string | undefined;
    const digest = await hashFile(resolved.realPath, {
      ...hashing,
      confirm: async (fd, stats) => {
        outside = await openedOutside(realBaseDir, path, fd, stats);
        if (outside !== undefined) throw new Error(outside);
      },
    }).catch((error: unknown) => {
      if (outside === undefined) throw error;
      return undefined;
    });
    return digest === undefined ? { unsafe: outside! } : { digest };
  };
  const hashed = await mapBounded(keys, options.concurrency ?? DEFAULT_HASH_CONCURRENCY, async (key): Promise<Hashed> => {
    let outcome: Hashed;
    try {
      outcome = await hashOne(toHash.get(key) as Buffer);
    } catch (error) {
      if (signal?.aborted) throw new BackfillError('ABORTED', 'The operation was aborted.', { cause: error });
      outcome = { error };
    }
    filesDone++;
    onProgress({ filesDone, filesTotal, bytesHashed });
    return outcome;
  });
  const byKey = new Map(keys.map((key, i) => [key, hashed[i] as Hashed]));

  const entries: ChecksumResult[] = [];
  const problems: Array<{ line: number; error: BackfillError }> = [];
  for (const entry of parsed.entries) {
    const key = entry.pathBytes.toString('latin1');
    const base = { line: entry.line, path: entry.path, format: entry.format, expected: entry.sha256 };
    const context = { path: entry.path, line: entry.line };
    const lexical = unsafe.get(key);
    // An empty name (possible as `SHA256 () = …`) opens nothing; sha256sum reports it missing.
    const outcome: Hashed =
      lexical !== undefined
        ? { unsafe: lexical }
        : (byKey.get(key) ?? { error: Object.assign(new Error('empty file name'), { code: 'ENOENT' }) });
    let result: ChecksumResult;
    if ('unsafe' in outcome) {
      result = { ...base, actual: null, bytes: null, status: 'UNSAFE', code: 'CHECKSUM_PATH_UNSAFE' };
      problems.push({
        line: entry.line,
        error: new BackfillError(
          'CHECKSUM_PATH_UNSAFE',
          `line ${entry.line}: ${JSON.stringify(entry.path)} ${outcome.unsafe}; it was not read. Use names relative to the sums file.`,
          { context },
        ),
      });
    } else if ('error' in outcome) {
      const status = statusOfReadError(outcome.error, ignoreMissing);
      if (status === 'SKIPPED') {
        result = { ...base, actual: null, bytes: null, status };
      } else {
        const code = status === 'MISSING' ? 'FILE_MISSING' : 'IO_ERROR';
        const why = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
        result = { ...base, actual: null, bytes: null, status, code };
        problems.push({
          line: entry.line,
          error: new BackfillError(code, `line ${entry.line}: ${JSON.stringify(entry.path)}: FAILED open or read (${why}).`, {
            cause: outcome.error,
            context,
          }),
        });
      }
    } else {
      const { sha256, bytes } = outcome.digest;
      const matches = sha256 === entry.sha256;
      result = matches
        ? { ...base, actual: sha256, bytes, status: 'OK' }
        : { ...base, actual: sha256, bytes, status: 'FAILED', code: 'CHECKSUM_MISMATCH' };
      if (!matches) {
        problems.push({
          line: entry.line,
          error: new BackfillError(
            'CHECKSUM_MISMATCH',
            `line ${entry.line}: ${JSON.stringify(entry.path)}: FAILED; expected sha256 ${entry.sha256}, got ${sha256}.`,
            { context: { ...context, digest: sha256 } },
          ),
        });
      }
    }
    entries.push(result);
  }
  for (const bad of parsed.malformed) {
    problems.push({
      line: bad.line,
      error: new BackfillError(
        'CHECKSUM_LINE_MALFORMED',
        `${sumsPath} line ${bad.line}: improperly formatted SHA256 checksum line (${bad.reason})${bad.fatal ? '; sha256sum --check would check the name cut at the NUL, so this fails the check even without strict' : ''}.`,
        { context: { path: sumsPath, line: bad.line } },
      ),
    });
  }

  const count = (status: ChecksumStatus): number => entries.filter((e) => e.status === status).length;
  const counts: ChecksumCounts = {
    listed: entries.length,
    ok: count('OK'),
    failed: count('FAILED'),
    missing: count('MISSING'),
    skipped: count('SKIPPED'),
    unreadable: count('UNREADABLE'),
    unsafe: count('UNSAFE'),
    malformed: parsed.malformed.length,
    blank: parsed.blankLines,
    comments: parsed.commentLines,
  };
  const ordered = problems.sort((a, b) => a.line - b.line).map((p) => p.error);
  if (entries.length === 0) {
    ordered.push(
      new BackfillError('CHECKSUM_LINE_MALFORMED', `${sumsPath}: no properly formatted SHA256 checksum lines found.`, {
        context: { path: sumsPath },
      }),
    );
  } else if (counts.ok === 0 && counts.skipped > 0 && counts.skipped === entries.length) {
    ordered.push(
      new BackfillError('FILE_MISSING', `${sumsPath}: no file was verified; every listed file is missing.`, {
        context: { path: sumsPath },
      }),
    );
  }
  const ok =
    entries.length > 0 &&
    counts.ok > 0 &&
    counts.failed === 0 &&
    counts.missing === 0 &&
    counts.unreadable === 0 &&
    counts.unsafe === 0 &&
    (!strict || counts.malformed === 0) &&
    // A line with a NUL byte is one sha256sum checks (its name cut at the NUL): skipped here, it could hide a failure.
    !parsed.malformed.some((m) => m.fatal);
  logger.info('verifyChecksums finished', { sumsPath, passed: ok, counts });
  return {
    ok,
    sumsPath,
    baseDir,
    strict,
    ignoreMissing,
    entries,
    counts,
    malformedLines: parsed.malformed.map((m) => m.line),
    problems: ordered,
    signature,
  };
}
