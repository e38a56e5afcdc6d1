/**
 * The one error type every module returns, and the table of its codes.
 *
 * @module
 */

/**
 * Every stable error code, with a one-line meaning and what to do about it.
 * The README's error table and the CLI's messages are built from this object,
 * so the docs and the code cannot drift apart.
 */
export const ERROR_CODES = {
  // General
  INVALID_ARGUMENT: { summary: 'An option or argument is invalid.', fix: 'Check the option named in the message.' },
  INVALID_IDENTIFIER: {
    summary: 'A schema, table or column name is not a safe SQL identifier.',
    fix: 'Use letters, digits, `_` and `$` (at most 63 bytes), optionally as `schema.table`.',
  },
  IO_ERROR: { summary: 'A file could not be read or written.', fix: 'Check the path and its permissions.' },
  ABORTED: {
    summary: 'The operation was cancelled through its AbortSignal.',
    fix: 'Run it again. A single-transaction operation (an import) committed nothing; a statement backfill keeps its committed batches and resumes when run again with the same run id.',
  },
  DB_CONNECTION: {
    summary: 'The database could not be reached or the connection was lost.',
    fix: 'Check the connection string and that the server is up.',
  },
  DB_ERROR: { summary: 'The database rejected a statement.', fix: 'Read the SQLSTATE and message; nothing was committed.' },
  LOCK_TIMEOUT: {
    summary: 'A lock was not granted within `lock_timeout`.',
    fix: 'Retry when the table is less busy, or raise `lockTimeoutMs`.',
  },
  // Dataset reading
  UNSUPPORTED_FORMAT: {
    summary: 'The input is not a tar, tar.gz or tar.zst archive, or is a plain tar and a compressed one at once.',
    fix: 'Pass a dataset tarball.',
  },
  COMPRESSION_CORRUPT: { summary: 'The compressed stream is corrupt.', fix: 'Fetch the tarball again and check its SHA-256.' },
  COMPRESSION_TRUNCATED: { summary: 'The compressed stream ends early.', fix: 'The file is incomplete: copy it again.' },
  TAR_CORRUPT: { summary: 'A tar header is invalid.', fix: 'Rebuild the tarball.' },
  TAR_TRUNCATED: { summary: 'The tar archive ends inside a member.', fix: 'The file is incomplete: copy it again.' },
  SIZE_LIMIT_EXCEEDED: {
    summary:
      'Decompressed output passed a configured limit (possible decompression bomb), or the archive holds more entries than `maxEntries`.',
    fix: 'Raise `maxDecompressedBytes`, `maxCompressionRatio` or `maxEntries` if the dataset really is that large, compresses that well or holds that many files.',
  },
  MEMBER_DUPLICATE: {
    summary:
      'Two archive entries extract to one path: two members of one name, a directory named like a file member, or a file where another member needs a directory.',
    fix: 'Rebuild the tarball with unique member names.',
  },
  MEMBER_PATH_UNSAFE: {
    summary:
      "A member path is empty, absolute, contains `..`, is not UTF-8, is longer than 4,095 bytes or has a segment longer than 255, or a file member's name ends in `/` (tar makes a directory of it).",
    fix: 'Rebuild the tarball with relative UTF-8 member paths, files named without a trailing slash.',
  },
  MEMBER_TYPE_UNSUPPORTED: {
    summary:
      'A tar header is of a type the reader does not support: a link, device or FIFO, a GNU N/V/M/S/K/D entry, a sparse file, a vendor type, a file with data whose name ends in `/` (tar extracts an empty directory), or a directory whose header claims data (GNU tar reads it as the entries that follow).',
    fix: 'Datasets hold regular files and directories only: rebuild the tarball with plain `tar --format=posix` or `writeDataset`.',
  },
  MANIFEST_MISSING: {
    summary: 'The archive has no `manifest.json`.',
    fix: 'Build the dataset with `writeDataset` or add a schema-1 manifest.',
  },
  MANIFEST_INVALID: { summary: '`manifest.json` is not a valid schema-1 manifest.', fix: 'Fix the field named in the message.' },
  LINE_TOO_LONG: {
    summary: 'A line is longer than the reader allows (`maxLineBytes`; for the index backfill, `maxIndexLineBytes`).',
    fix: 'Fix the line, or raise the limit named in the message.',
  },
  ENCODING_INVALID: {
    summary: 'A line, or a file given to `writeDataset`, is not valid UTF-8.',
    fix: 'Re-encode the member or file as UTF-8.',
  },
  JSON_MALFORMED: { summary: 'An NDJSON line is not valid JSON.', fix: 'Fix the line named in the message.' },
  RECORD_NOT_OBJECT: { summary: 'An NDJSON line is valid JSON but not an object.', fix: 'Each line must be one JSON object.' },
  RECORD_INVALID: {
    summary: 'A record lacks a usable id or has another field problem.',
    fix: 'Set `idField` or fix the record named in the message.',
  },
  JSONB_UNSUPPORTED: {
    summary: 'A record holds text PostgreSQL jsonb rejects (`\\u0000`, lone surrogates).',
    fix: 'Remove the character, or use `onInvalid: "reject"`.',
  },
  DUPLICATE_ID: { summary: 'Two records share an id.', fix: 'Remove one of the lines named in the message.' },
  // Staging
  ID_TOO_LONG: {
    summary: 'A record id is longer than the staging table’s primary key can index.',
    fix: 'Shorten the id, or use `onInvalid: "reject"` to set the line aside.',
  },
  TABLE_SHAPE_MISMATCH: {
    summary: 'An existing staging table’s columns differ from what the import writes, so loading would change or drop them.',
    fix: 'Make the table `(id text, raw jsonb)`, or import into another table; the message names the difference.',
  },
  TABLE_REFERENCED: {
    summary: 'A foreign key from another table references rows the operation would replace, delete or move.',
    fix: 'Empty or repoint the referencing rows named in the message, or drop the constraint as the message says, then run again.',
  },
  // Verification
  CHECKSUM_MISMATCH: { summary: 'A SHA-256 does not match the recorded value.', fix: 'The file changed or is corrupt: fetch it again.' },
  MANIFEST_MISMATCH: {
    summary: 'The archive does not match its manifest (members, bytes, records or hashes).',
    fix: 'See the report for each member.',
  },
  COUNT_MISMATCH: { summary: 'Rows loaded differ from the count in the manifest.', fix: 'Nothing was committed; see the report.' },
  CHECKSUM_LINE_MALFORMED: {
    summary: 'A checksum line is not in `sha256sum` format.',
    fix: 'Fix or remove the line named in the message.',
  },
  CHECKSUM_PATH_UNSAFE: {
    summary: 'A checksum entry names an absolute path or escapes the base directory.',
    fix: 'Use paths relative to the sums file.',
  },
  FILE_MISSING: { summary: 'A file named in a checksum list does not exist.', fix: 'Restore the file, or pass `ignoreMissing`.' },
  ENVELOPE_INVALID: { summary: 'A DSSE envelope is malformed.', fix: 'Check `payload`, `payloadType` and `signatures`.' },
  BASE64_INVALID: { summary: 'A value is not valid base64.', fix: 'Re-encode it with standard or URL-safe base64.' },
  SIGNATURE_MISSING: { summary: 'There are no signatures to check.', fix: 'Sign the artefact first.' },
  SIGNATURE_INVALID: {
    summary: 'A signature does not verify with the given keys.',
    fix: 'Check the key and that the artefact is unmodified.',
  },
  KEY_INVALID: {
    summary: 'A key could not be parsed or is of an unsupported type.',
    fix: 'Use an Ed25519, ECDSA P-256 or RSA key in PEM.',
  },
  SUBJECT_MISMATCH: {
    summary: 'An in-toto statement does not name the file’s digest.',
    fix: 'The file is not the one the attestation covers.',
  },
  // Partitions
  TABLE_NOT_FOUND: { summary: 'The table does not exist.', fix: 'Create it, or check the name and schema.' },
  TABLE_NOT_PARTITIONED: {
    summary: 'The table is not range-partitioned on the configured column.',
    fix: 'Point the manager at the partitioned parent.',
  },
  PARTITION_NAME_INVALID: {
    summary: 'A table name does not follow the partition naming rule.',
    fix: 'Partitions are `<parent>_YYYY_MM` (or the interval’s form).',
  },
  PARTITION_OUT_OF_RANGE: {
    summary: 'A row lies outside the partition’s bounds.',
    fix: 'Move or delete the row named in the message, then attach again.',
  },
  PARTITION_OVERLAP: { summary: 'The range overlaps an existing partition.', fix: 'Detach or drop the overlapping partition first.' },
  PARTITION_NAME_TAKEN: {
    summary: 'A table that is not a partition of the parent holds a partition’s name; `ensure` created every other slot.',
    fix: 'Attach the table if it is a restored partition, otherwise rename or drop it; then run ensure again.',
  },
  CLOCK_SKEW: {
    summary:
      'The host’s clock and the database’s disagree by more than `maxClockSkewMs`, so `ensure` or `retention` refused to plan from it; nothing was changed.',
    fix: 'Fix the wrong clock (NTP); to run anyway, pass the instant explicitly (`now`, `--now`) or raise `maxClockSkewMs`.',
  },
  // Statements
  NO_NORMALIZER: { summary: 'No normalizer recognises the document’s format.', fix: 'Register a normalizer for it, or skip the document.' },
  DOCUMENT_INVALID: { summary: 'A raw document is malformed for its format.', fix: 'See the digest and field in the message.' },
  RUN_IN_PROGRESS: {
    summary: 'A planned statement backfill is still running: its report is not final yet.',
    fix: 'Report again once its workers are done; the message shows its progress and the workers alive.',
  },
  RANGE_FAILED: {
    summary: 'A key range of a planned statement backfill failed on every retry the job engine allows; the run cannot complete.',
    fix: 'Fix the cause (the message names the range and its last error), then plan the run again with the same options: replanning re-enqueues the unfinished ranges.',
  },
  // Version gate
  COMMIT_MISSING: { summary: 'The request has no commit header.', fix: 'Send the code commit in the configured header.' },
  COMMIT_MALFORMED: {
    summary: 'The commit header is not a full 40- or 64-hex hash.',
    fix: 'Send the full commit hash (`git rev-parse HEAD`).',
  },
  COMMIT_NOT_RECENT: {
    summary: 'The commit is not among the recent commits.',
    fix: 'Update the host to current code (see the remediation).',
  },
  GATE_UNAVAILABLE: { summary: 'The gate has never loaded its commit set.', fix: 'Check `repoPath` and that git runs; retry later.' },
  // Index backfill
  EPISODES_ROOT_MISSING: { summary: 'The episodes directory does not exist.', fix: 'Check `--episodes-root`.' },
  LOCKED: { summary: 'Another run holds the lock.', fix: 'Wait for it to finish, or remove a stale lock file.' },
  SYMLINK_OUTSIDE_ROOT: {
    summary: 'A symbolic link under the episodes root points outside it; it was not followed.',
    fix: 'Move the tarball under the root, or pass `followSymlinks` (`--follow-symlinks`) if the link is meant.',
  },
  EPISODE_ID_DUPLICATE: {
    summary: 'Tarballs with the same episode id are on more than one host; the index keys rows by episode id.',
    fix: 'Keep the genuine tarball (compare the hosts and hashes in the report), move the other away, and correct its index row.',
  },
  EPISODE_META_INVALID: {
    summary: 'An episode tarball has no usable `meta.json` (missing, malformed, or no 40-character `code_version.commit`).',
    fix: 'The row is written without `commit`; rebuild the episode if the commit matters.',
  },
  // MongoDB
  MONGO_ERROR: { summary: 'MongoDB rejected an operation.', fix: 'Read the server code in the message.' },
  DOCUMENT_TOO_LARGE: {
    summary: 'A document exceeds the BSON size limit (16 MiB).',
    fix: 'Shrink the record; it was rejected, not imported.',
  },
  COMMIT_INCOMPLETE: {
    summary: 'A MongoDB swap was recorded as committed but not every collection was renamed yet.',
    fix: 'Call `dropLeftovers()`: it finishes the recorded commit.',
  },
  NUMBER_OUT_OF_RANGE: {
    summary: 'A number in a record cannot be stored exactly as a BSON number.',
    fix: 'Fix the value on the line named in the message (or quote it as a string).',
  },
} as const satisfies Record<string, { summary: string; fix: string }>;

/** A stable, UPPER_SNAKE error code. See {@link ERROR_CODES}. */
export type BackfillErrorCode = keyof typeof ERROR_CODES;

/** Where an error happened. Every field is optional; set the ones that apply. */
export interface BackfillErrorContext {
  readonly member?: string;
  readonly line?: number;
  readonly offset?: number;
  readonly path?: string;
  readonly table?: string;
  readonly partition?: string;
  readonly digest?: string;
  readonly id?: string;
  readonly [key: string]: unknown;
}

/** Options for {@link BackfillError}. */
export interface BackfillErrorOptions<P = unknown> {
  readonly cause?: unknown;
  readonly context?: BackfillErrorContext;
  /** PostgreSQL SQLSTATE or MongoDB server code, when the error came from a database. */
  readonly dbCode?: string | number;
  /**
   * Row data or SQL parameters. Kept non-enumerable so it never lands in logs
   * or JSON by accident.
   */
  readonly detail?: unknown;
  /** What the failed operation finished before it stopped (a report, a summary, the steps done). */
  readonly partial?: P;
}

/**
 * The single error type of the library.
 *
 * @example
 * ```ts
 * const result = await readDataset('x.tar.zst').manifest();
 * if (result.isErr() && result.error.code === 'MANIFEST_MISSING') {
 *   console.error(result.error.message);
 * }
 * ```
 */
export class BackfillError<P = unknown> extends Error {
  override readonly name = 'BackfillError';
  readonly code: BackfillErrorCode;
  readonly context: BackfillErrorContext;
  readonly dbCode: string | number | undefined;
  declare readonly detail: unknown;
  /**
   * What the failed operation had finished when it stopped: an import's
   * report, a backfill's summary, the partition steps done. Each operation's
   * error type names its shape, for example `BackfillError<ImportReport>`.
   */
  readonly partial: P | undefined;

  constructor(code: BackfillErrorCode, message: string, options: BackfillErrorOptions<P> = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.dbCode = options.dbCode;
    this.partial = options.partial;
    Object.defineProperty(this, 'detail', { value: options.detail, enumerable: false });
  }

  /** The remedy for this error's code, for CLIs and logs. */
  get fix(): string {
    return ERROR_CODES[this.code].fix;
  }

  /**
   * This error with `partial` attached: same code, message, context, cause
   * and database code. The one way an operation hands back what it finished;
   * `undefined` says it finished nothing (`error.withPartial<Report>(undefined)`).
   */
  withPartial<Q>(partial: Q | undefined): BackfillError<Q> {
    const copy = new BackfillError<Q>(this.code, this.message, {
      cause: this.cause,
      context: this.context,
      ...(this.dbCode === undefined ? {} : { dbCode: this.dbCode }),
      detail: this.detail,
      ...(partial === undefined ? {} : { partial }),
    });
    if (this.stack !== undefined) copy.stack = this.stack;
    return copy;
  }

  /**
   * This error as one that carries no partial result (a refused option, a
   * failure before the first step), typed to fit any operation's
   * `BackfillError<Report>`.
   */
  withoutPartial(): BackfillError<never> {
    // With no partial set, this error already is a BackfillError<never>.
    return this.partial === undefined ? (this as BackfillError<unknown> as BackfillError<never>) : this.withPartial<never>(undefined);
  }

  /** A plain object suitable for JSON reports (no stack, no row data). */
  toJSON(): { code: BackfillErrorCode; message: string; context: BackfillErrorContext; dbCode?: string | number; partial?: P } {
    return {
      code: this.code,
      message: this.message,
      context: this.context,
      ...(this.dbCode === undefined ? {} : { dbCode: this.dbCode }),
      ...(this.partial === undefined ? {} : { partial: this.partial }),
    };
  }
}

/**
 * True when `value` is a {@link BackfillError}.
 *
 * @example
 * ```ts
 * try { await something(); } catch (e) { if (isBackfillError(e)) console.error(e.code); }
 * ```
 */
export function isBackfillError(value: unknown): value is BackfillError {
  return value instanceof BackfillError;
}

/** Is `value` a Node.js system error with a string `code` such as `ENOENT`? */
function nodeErrorCode(value: unknown): string | undefined {
  const code = (value as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turns anything thrown into a {@link BackfillError}. Errors that already are
 * one pass through unchanged; aborts become `ABORTED`; Node file-system errors
 * become `IO_ERROR`; everything else becomes `fallback`.
 *
 * @example
 * ```ts
 * const result = await ResultAsync.fromPromise(fs.readFile(path), (e) => toBackfillError(e, 'IO_ERROR', { path }));
 * ```
 */
export function toBackfillError(
  value: unknown,
  fallback: BackfillErrorCode = 'IO_ERROR',
  context: BackfillErrorContext = {},
): BackfillError {
  if (value instanceof BackfillError) return value;
  const message = value instanceof Error ? value.message : String(value);
  if (value instanceof Error && value.name === 'AbortError') {
    return new BackfillError('ABORTED', 'The operation was aborted.', { cause: value, context });
  }
  const sys = nodeErrorCode(value);
  if (sys !== undefined && /^E[A-Z]+$/.test(sys) && fallback !== 'DB_CONNECTION') {
    const where = context.path === undefined ? '' : `${context.path}: `;
    return new BackfillError('IO_ERROR', `${where}${message}`, { cause: value, context });
  }
  return new BackfillError(fallback, message, { cause: value, context });
}
