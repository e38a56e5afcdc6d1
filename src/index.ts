/**
 * `@stella/backfill-kit`: safe, fast, streaming backfills and data
 * migrations for PostgreSQL (and MongoDB).
 *
 * @packageDocumentation
 */
export {
  BackfillError,
  ERROR_CODES,
  isBackfillError,
  toBackfillError,
  type BackfillErrorCode,
  type BackfillErrorContext,
  type BackfillErrorOptions,
} from './errors.js';
export type { Logger } from './_internals/logger.js';
export type { PgSource, PgPoolLike, PgPooledClient, PgClientLike, PgQueryResult } from './_internals/pg.js';
export * from './dataset/index.js';
export * from './verify/index.js';
export * from './version-gate/index.js';
export * from './statements/index.js';
export * from './staging/index.js';
export * from './partitions/index.js';
export * from './index-backfill/index.js';
