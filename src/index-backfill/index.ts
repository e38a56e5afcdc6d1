/**
 * IndexBackfiller: rebuild missing rows of an append-only `index.jsonl`
 * from episode tarballs on disk, compatible with the runbook's
 * `index_backfill.py`.
 *
 * @module
 */
export { backfillIndex } from './backfill-index.js';
export { formatIndexRow } from './index-row.js';
export {
  DEFAULT_INDEX_BACKFILL_CONCURRENCY,
  DEFAULT_INDEX_MAX_DECOMPRESSED_BYTES,
  DEFAULT_INDEX_MAX_LINE_BYTES,
  DEFAULT_INDEX_MAX_META_BYTES,
  DEFAULT_INDEX_READ_CHUNK_BYTES,
  MAX_INDEX_READ_CHUNK_BYTES,
  INDEX_SCHEMA_VERSION,
  INDEX_LOCK_SUFFIX,
} from './defaults.js';
export type {
  BackfillIndexOptions,
  DuplicateEpisode,
  IndexBackfillProgress,
  IndexBackfillReport,
  IndexBackfillWarning,
  IndexRow,
} from './types.js';
