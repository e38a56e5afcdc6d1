/** Decompressed-size guard against zstd/gzip bombs: 64 GiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 ** 3;
/**
 * Decompressed bytes allowed per compressed byte, past the first 64 MiB: 200.
 * A bomb of zeros or spaces inflates 1,000× (gzip) to 10,000× and more (zstd).
 */
export const DEFAULT_MAX_COMPRESSION_RATIO = 200;
/** Longest NDJSON line accepted: 64 MiB. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 ** 2;
/**
 * Most entries (files and directories, with those the member names imply) an
 * archive may hold: 10,000. The reader keeps a few hundred bytes for each
 * (its stats, and its path to refuse a later clash), so an archive of
 * millions of empty entries, which compresses to almost nothing, would
 * otherwise grow memory without bound.
 */
export const DEFAULT_MAX_ENTRIES = 10_000;
/** Largest `manifest.json` accepted (it is held in memory): 16 MiB. */
export const MAX_MANIFEST_BYTES = 16 * 1024 ** 2;
/** The file name ending of a tarball of each compression. */
export const TARBALL_SUFFIX = { zstd: '.tar.zst', gzip: '.tar.gz', none: '.tar' } as const;
/** zstd level used by `writeDataset` unless told otherwise. */
export const DEFAULT_ZSTD_LEVEL = 3;
/** gzip level used by `writeDataset` unless told otherwise. */
export const DEFAULT_GZIP_LEVEL = 6;
/**
 * The levels each compression really has, lowest and highest (`none` takes
 * no level): zstd clamps anything else silently, so a typo would change
 * the output unnoticed.
 */
export const COMPRESSION_LEVELS = { zstd: [1, 22], gzip: [0, 9], none: undefined } as const;
/** The latest mtime `writeDataset` stores (its tar writer keeps a signed 32-bit number): 2038-01-19T03:14:07Z. */
export const MAX_MTIME = 2 ** 31 - 1;
/** The manifest's member name. */
export const MANIFEST_NAME = 'manifest.json';
