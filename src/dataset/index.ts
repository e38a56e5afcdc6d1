/**
 * DatasetReader and DatasetWriter: stream `.tar.zst` / `.tar.gz` / `.tar`
 * NDJSON datasets with a schema-1 `manifest.json`.
 *
 * @module dataset
 */
export { readDataset } from './read-dataset.js';
export { writeDataset, type MemberFile, type MemberSource, type WriteDatasetOptions, type WrittenDataset } from './write-dataset.js';
export {
  DEFAULT_MAX_COMPRESSION_RATIO,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_ZSTD_LEVEL,
  DEFAULT_GZIP_LEVEL,
  MANIFEST_NAME,
} from './defaults.js';
export type {
  Compression,
  Dataset,
  DatasetByteLine,
  DatasetLine,
  DatasetManifest,
  DatasetMember,
  DatasetRecord,
  DatasetStats,
  LineOptions,
  ManifestMember,
  MemberStats,
  ReadDatasetOptions,
} from './types.js';
