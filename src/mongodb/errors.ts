/**
 * Driver errors → {@link BackfillError}, and a bounded retry of the ones a
 * retry can fix. Works on the errors' shape (name, code, labels), not on the
 * driver's classes, so it needs no runtime import of `mongodb`.
 *
 * @module
 */
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { loggerOf, throwIfAborted, type Logger } from '../_internals/logger.js';
import { DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_DELAY_MS } from './defaults.js';

/** Duplicate key (E11000), and its legacy update form. */
const DUPLICATE_KEY_CODES = new Set([11000, 11001]);

/** BSONObjectTooLarge and the insert-size BadValue variants. */
const TOO_LARGE_CODES = new Set([10334, 17419, 17420, 10329]);

/**
 * Server codes after which the same write can be sent again: the
 * retryable-writes specification's list (HostUnreachable, NetworkTimeout,
 * ShutdownInProgress, PrimarySteppedDown, NotWritablePrimary, …).
 */
const RETRYABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** Driver error classes that mean the connection, not the operation, failed. */
const NETWORK_ERROR_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MongoPoolClearedError',
]);

const RETRYABLE_LABELS = ['RetryableWriteError', 'TransientTransactionError', 'ResetPool', 'RetryableError'];

interface WriteErrorShape {
  readonly index?: unknown;
  readonly code?: unknown;
  readonly errmsg?: unknown;
  readonly keyValue?: unknown;
  readonly errInfo?: unknown;
  readonly err?: { readonly keyValue?: unknown; readonly errmsg?: unknown; readonly code?: unknown; readonly index?: unknown };
}

interface MongoErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly codeName?: unknown;
  readonly message?: unknown;
  readonly keyValue?: unknown;
  readonly errorLabels?: unknown;
  readonly writeErrors?: unknown;
  readonly result?: unknown;
  readonly errorLabelSet?: unknown;
  hasErrorLabel?(label: string): boolean;
}

/** Counts of what a failed bulk write did before it failed. */
export interface BulkWritePartial {
  readonly inserted: number;
  readonly matched: number;
  readonly modified: number;
  readonly deleted: number;
  readonly upserted: number;
  /** How many of the batch's writes failed. */
  readonly failedWrites: number;
  /** Index (in the batch) and server code of the first failed writes. */
  readonly writeErrors: readonly { readonly index: number; readonly code: number | undefined }[];
}

function shape(error: unknown): MongoErrorShape {
  return typeof error === 'object' && error !== null ? (error as MongoErrorShape) : {};
}

function numericCode(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function writeErrorsOf(error: MongoErrorShape): WriteErrorShape[] {
  const raw = error.writeErrors;
  if (Array.isArray(raw)) return raw as WriteErrorShape[];
  return typeof raw === 'object' && raw !== null ? [raw as WriteErrorShape] : [];
}

function writeErrorCode(w: WriteErrorShape): number | undefined {
  return numericCode(w.code) ?? numericCode(w.err?.code);
}

function writeErrorIndex(w: WriteErrorShape): number | undefined {
  return numericCode(w.index) ?? numericCode(w.err?.index);
}

/**
 * The error's server code, or the first write error's code for bulk writes.
 *
 * @example
 * ```ts
 * if (mongoErrorCode(error) === 11000) console.warn('duplicate key');
 * ```
 */
export function mongoErrorCode(error: unknown): number | undefined {
  const e = shape(error);
  const own = numericCode(e.code);
  const first = writeErrorsOf(e)[0];
  return own ?? (first === undefined ? undefined : writeErrorCode(first));
}

function hasLabel(e: MongoErrorShape, label: string): boolean {
  if (typeof e.hasErrorLabel === 'function') {
    try {
      if (e.hasErrorLabel(label)) return true;
    } catch {
      // a foreign object with a throwing method: fall through to the array
    }
  }
  return Array.isArray(e.errorLabels) && e.errorLabels.includes(label);
}

/**
 * True when sending the same operation again can succeed: a network error,
 * a server-selection timeout, a failover code, or a retryable error label.
 *
 * @example
 * ```ts
 * isRetryableMongoError(Object.assign(new Error('x'), { name: 'MongoNetworkError' })); // true
 * isRetryableMongoError({ code: 11000 }); // false
 * ```
 */
export function isRetryableMongoError(error: unknown): boolean {
  if (error instanceof BackfillError) return false;
  const e = shape(error);
  if (typeof e.name === 'string' && NETWORK_ERROR_NAMES.has(e.name)) return true;
  if (RETRYABLE_LABELS.some((label) => hasLabel(e, label))) return true;
  const code = numericCode(e.code);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

/** Renders an `_id` (string, number, ObjectId, …) as text for messages and `context.id`. */
function idText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  const v = value as { toHexString?: () => string; toString?: () => string };
  if (typeof v.toHexString === 'function') return v.toHexString();
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function idFromKeyValue(keyValue: unknown): string | undefined {
  if (typeof keyValue !== 'object' || keyValue === null) return undefined;
  const kv = keyValue as Record<string, unknown>;
  if (Object.hasOwn(kv, '_id')) return idText(kv._id);
  const entries = Object.entries(kv);
  return entries.length === 1 ? idText(entries[0]?.[1]) : JSON.stringify(kv);
}

/** `… dup key: { _id: "abc" }` or `… dup key: { _id: ObjectId('…') }` (servers that send no keyValue). */
function idFromMessage(message: unknown): string | undefined {
  if (typeof message !== 'string') return undefined;
  const m = /dup key: \{ _id: (?:ObjectId\('([0-9a-f]{24})'\)|"((?:[^"\\]|\\.)*)"|([^ }]+)) \}/.exec(message);
  if (m === null) return undefined;
  return m[1] ?? (m[2] === undefined ? m[3] : m[2].replace(/\\(.)/g, '$1'));
}

/**
 * The key of an E11000 error when it is not the `_id` index's (a unique
 * index of the user's): its `keyValue`, else the `dup key: { … }` of the
 * message; `undefined` when the key is `_id` or not told.
 */
export function secondaryDuplicateKey(error: unknown): string | undefined {
  const e = shape(error);
  const dup = writeErrorsOf(e).find((w) => DUPLICATE_KEY_CODES.has(writeErrorCode(w) ?? -1));
  const keyValue = dup === undefined ? e.keyValue : (dup.keyValue ?? dup.err?.keyValue);
  if (typeof keyValue === 'object' && keyValue !== null && Object.keys(keyValue).length > 0)
    return Object.hasOwn(keyValue, '_id') ? undefined : keyText(keyValue);
  const message = dup === undefined ? e.message : (dup.errmsg ?? dup.err?.errmsg);
  const m = typeof message === 'string' ? /dup key: (\{.*\})/.exec(message) : null;
  return m === null || /^\{ _id: /.test(m[1]!) ? undefined : m[1];
}

/** A key value as text for a message (JSON where it can be, else the value's own text). */
function keyText(value: object): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/**
 * The duplicated key of an E11000 error, as text: from `keyValue` when the
 * server sends it (4.4+), else from the message. For a bulk write, the first
 * duplicate's key; `ids` maps a write's index back to the id that was sent.
 *
 * @example
 * ```ts
 * duplicateKeyId({ code: 11000, keyValue: { _id: 'a-1' } }); // 'a-1'
 * ```
 */
export function duplicateKeyId(error: unknown, ids?: (index: number) => string | undefined): string | undefined {
  const e = shape(error);
  if (DUPLICATE_KEY_CODES.has(numericCode(e.code) ?? -1) && writeErrorsOf(e).length === 0) {
    return idFromKeyValue(e.keyValue) ?? idFromMessage(e.message);
  }
  const dup = writeErrorsOf(e).find((w) => DUPLICATE_KEY_CODES.has(writeErrorCode(w) ?? -1));
  if (dup === undefined) return undefined;
  const index = writeErrorIndex(dup);
  return (
    idFromKeyValue(dup.keyValue ?? dup.err?.keyValue) ??
    idFromMessage(dup.errmsg ?? dup.err?.errmsg) ??
    (index === undefined ? undefined : ids?.(index))
  );
}

/** The batch index of a bulk write's first duplicate-key write error, when the server tells it. */
function duplicateWriteIndex(error: unknown): number | undefined {
  const dup = writeErrorsOf(shape(error)).find((w) => DUPLICATE_KEY_CODES.has(writeErrorCode(w) ?? -1));
  return dup === undefined ? undefined : writeErrorIndex(dup);
}

/**
 * What a failed bulk write (`MongoBulkWriteError`) got done before it
 * failed, or `undefined` for other errors. Unordered bulks keep going past a
 * failed write, so these counts matter for the report.
 *
 * @example
 * ```ts
 * const partial = bulkWritePartial(error);
 * if (partial) console.log(`${partial.inserted} inserted, ${partial.failedWrites} failed`);
 * ```
 */
export function bulkWritePartial(error: unknown): BulkWritePartial | undefined {
  const e = shape(error);
  const writeErrors = writeErrorsOf(e);
  const result = e.result as Record<string, unknown> | undefined;
  if (writeErrors.length === 0 && (typeof result !== 'object' || result === null)) return undefined;
  const read = (...keys: string[]): number => {
    for (const key of keys) {
      const direct = numericCode((e as Record<string, unknown>)[key]);
      if (direct !== undefined) return direct;
      const fromResult = typeof result === 'object' && result !== null ? numericCode(result[key]) : undefined;
      if (fromResult !== undefined) return fromResult;
    }
    return 0;
  };
  return {
    inserted: read('insertedCount', 'nInserted'),
    matched: read('matchedCount', 'nMatched'),
    modified: read('modifiedCount', 'nModified'),
    deleted: read('deletedCount', 'nRemoved'),
    upserted: read('upsertedCount', 'nUpserted'),
    failedWrites: writeErrors.length,
    writeErrors: writeErrors.slice(0, 10).map((w) => ({ index: writeErrorIndex(w) ?? -1, code: writeErrorCode(w) })),
  };
}

function messageOf(error: unknown): string {
  const m = shape(error).message;
  return typeof m === 'string' ? m : String(error);
}

/**
 * Maps anything the driver throws to a {@link BackfillError}:
 * - E11000 on `_id` → `DUPLICATE_ID` with `context.id` (the duplicated key)
 *   and, when `keyAt` is given and the server names the failed write,
 *   `context.idKey` (the key `keyAt` gives that write);
 *   on another unique index → `MONGO_ERROR` naming the key (`context.key`);
 * - a document over the BSON limit → `DOCUMENT_TOO_LARGE`;
 * - network and failover errors → `DB_CONNECTION`;
 * - `NamespaceNotFound` → `TABLE_NOT_FOUND`;
 * - an abort → `ABORTED`;
 * - any other server error → `MONGO_ERROR`, with the server code as `dbCode`.
 *
 * A bulk write's partial counts (a {@link BulkWritePartial}) are the error's `partial`.
 *
 * @example
 * ```ts
 * const e = mongoErrorToBackfill({ name: 'MongoServerError', code: 11000, keyValue: { _id: 'x' }, message: 'E11000 …' }, { table: 'linksets' });
 * e.code; // 'DUPLICATE_ID'
 * e.context.id; // 'x'
 * ```
 */
export function mongoErrorToBackfill(
  error: unknown,
  context: BackfillErrorContext = {},
  ids?: (index: number) => string | undefined,
  keyAt?: (index: number) => string | undefined,
): BackfillError<BulkWritePartial> {
  if (error instanceof BackfillError) return error;
  const e = shape(error);
  if (e.name === 'AbortError') return new BackfillError('ABORTED', 'The operation was aborted.', { cause: error, context });
  const code = mongoErrorCode(error);
  const partial = bulkWritePartial(error);
  const where = typeof context.table === 'string' ? `MongoDB (${context.table})` : 'MongoDB';
  const base = { cause: error, ...(code === undefined ? {} : { dbCode: code }), ...(partial === undefined ? {} : { partial }) };
  const failedOf = partial === undefined || partial.failedWrites <= 1 ? '' : ` (${partial.failedWrites} writes of the batch failed)`;
  const secondary = code !== undefined && DUPLICATE_KEY_CODES.has(code) ? secondaryDuplicateKey(error) : undefined;
  if (secondary !== undefined) {
    // Not a repeated id: documents with distinct ids share the key of a unique index (the live collection's, copied at commit).
    return new BackfillError(
      'MONGO_ERROR',
      `${where}: documents share the key ${secondary} of a unique index other than _id${failedOf}: ${messageOf(error)}. Fix the records that share it, or the index.`,
      { ...base, context: { ...context, key: secondary } },
    );
  }
  if (code !== undefined && DUPLICATE_KEY_CODES.has(code)) {
    const id = duplicateKeyId(error, ids);
    const at = duplicateWriteIndex(error);
    const idKey = at === undefined ? undefined : keyAt?.(at);
    const what = id === undefined ? 'a duplicate key' : `duplicate id ${JSON.stringify(id)}`;
    return new BackfillError('DUPLICATE_ID', `${where}: ${what}${failedOf}; remove one of the records that share it.`, {
      ...base,
      context: { ...context, ...(id === undefined ? {} : { id }), ...(idKey === undefined ? {} : { idKey }) },
    });
  }
  const message = messageOf(error);
  if ((code !== undefined && TOO_LARGE_CODES.has(code)) || /too large|exceeds (the )?maximum|larger than the maximum/i.test(message)) {
    return new BackfillError('DOCUMENT_TOO_LARGE', `${where}: ${message}; shrink the document.`, { ...base, context });
  }
  if ((typeof e.name === 'string' && NETWORK_ERROR_NAMES.has(e.name)) || (code !== undefined && RETRYABLE_CODES.has(code))) {
    return new BackfillError('DB_CONNECTION', `${where}: ${message}; check that the server is reachable (the write was retried).`, {
      ...base,
      context,
    });
  }
  if (code === 26) return new BackfillError('TABLE_NOT_FOUND', `${where}: ${message}`, { ...base, context });
  const name = typeof e.codeName === 'string' ? ` ${e.codeName}` : '';
  return new BackfillError('MONGO_ERROR', `${where}:${name}${code === undefined ? '' : ` (code ${code})`} ${message}${failedOf}`, {
    ...base,
    context,
  });
}

/** Options of {@link withMongoRetry}. */
export interface MongoRetryOptions {
  /**
   * Tries in all, the first included.
   * @defaultValue {@link DEFAULT_MAX_ATTEMPTS} (3)
   */
  readonly maxAttempts?: number;
  /**
   * Back-off before the second try, doubled for each further one.
   * @defaultValue {@link DEFAULT_RETRY_DELAY_MS} (100)
   */
  readonly delayMs?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Names the operation in log lines. */
  readonly what?: string;
}

/**
 * Retry settings from an adapter's config (`maxAttempts`, `retryDelayMs`,
 * `logger`), with the defaults filled in.
 *
 * @example
 * ```ts
 * const retry = retryOptionsFrom({ maxAttempts: 5 }); // { maxAttempts: 5, delayMs: 100 }
 * ```
 */
export function retryOptionsFrom(config: {
  readonly maxAttempts?: number;
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
}): MongoRetryOptions {
  return {
    maxAttempts: config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    delayMs: config.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
    ...(config.logger === undefined ? {} : { logger: config.logger }),
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      const e = new Error('The operation was aborted.');
      e.name = 'AbortError';
      reject(e);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn`, and runs it again (up to `maxAttempts` in all, with doubling
 * back-off) while it fails with a retryable error (see
 * {@link isRetryableMongoError}). Only wrap operations that are safe to
 * repeat. The attempt number (1-based) is passed to `fn`.
 *
 * @example
 * ```ts
 * const n = await withMongoRetry(() => collection.countDocuments({}), { maxAttempts: 3 });
 * ```
 */
export async function withMongoRetry<T>(fn: (attempt: number) => Promise<T>, options: MongoRetryOptions = {}): Promise<T> {
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
  let delay = options.delayMs ?? DEFAULT_RETRY_DELAY_MS;
  for (let attempt = 1; ; attempt += 1) {
    throwIfAborted(options.signal);
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxAttempts || !isRetryableMongoError(error)) throw error;
      loggerOf(options.logger).warn('MongoDB write failed with a retryable error; retrying', {
        what: options.what,
        attempt,
        maxAttempts,
        error: messageOf(error),
      });
      await sleep(delay, options.signal);
      delay *= 2;
    }
  }
}
