/**
 * Defaults of the staging module, in one place so docs and code agree.
 *
 * @module
 */

/** Schema of the staging tables (the dataset runbook's `PGSCHEMA` default). */
export const DEFAULT_STAGING_SCHEMA = 'lnm_raw';

/** Field a record's id is read from. */
export const DEFAULT_ID_FIELD = '_id';

/** How an import replaces the tables' contents. */
export const DEFAULT_STAGING_STRATEGY = 'truncate';

/** What an import does with a bad line. */
export const DEFAULT_ON_INVALID = 'fail';

/**
 * Bytes of raw NDJSON gathered into one batch before it is encoded and
 * written to COPY. Large enough that per-write overhead vanishes, small
 * enough that memory stays flat.
 */
export const DEFAULT_COPY_BATCH_BYTES = 128 * 1024;

/** `lock_timeout` for the statements that take locks on the live tables. */
export const DEFAULT_STAGING_LOCK_TIMEOUT_MS = 5_000;

/** Rows between two `onProgress` calls. */
export const DEFAULT_STAGING_PROGRESS_EVERY_ROWS = 50_000;

/**
 * With `onInvalid: 'reject'`, how many distinct duplicate ids are rejected
 * (each costs one more pass over the archive) before the import gives up.
 */
export const DEFAULT_MAX_DUPLICATE_RETRIES = 10;

/** Suffix of the default reject file, next to the tarball. */
export const DEFAULT_REJECT_SUFFIX = '.rejects.ndjson';
