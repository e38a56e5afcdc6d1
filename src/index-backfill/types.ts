import type { BackfillErrorCode } from '../errors.js';
import type { Logger } from '../_internals/logger.js';

/**
 * One row of the receiver's append-only `index.jsonl`, as the backfiller
 * writes it. The same fields, with the same meaning, as the rows of the
 * runbook's `index_backfill.py`.
 */
export interface IndexRow {
  /** When the row was made, as Python's `datetime.now(timezone.utc).isoformat()` writes it. */
  readonly received_at_wall: string;
  readonly host_id: string;
  readonly episode_id: string;
  /** Lowercase hex SHA-256 of the tarball as stored. */
  readonly sha256: string;
  readonly size_bytes: number;
  readonly schema_version: 1;
  readonly backfilled: true;
  /** `meta.json` → `code_version.commit`, lowercased; absent when it could not be read. */
  readonly commit?: string;
}

/** Something the run noticed but that did not stop it. */
export interface IndexBackfillWarning {
  readonly code: BackfillErrorCode;
  readonly message: string;
  /** The tarball or index file concerned. */
  readonly path: string;
  /** 1-based line of the index, for unreadable index lines. */
  readonly line?: number;
}

/**
 * One episode id whose tarballs are on more than one host. The index keys
 * rows by episode id, as the runbook's tool does: when the id is already
 * indexed, the tarballs on the other hosts get no row; when it is not, each
 * tarball gets its own row, and the index then holds the id more than once.
 */
export interface DuplicateEpisode {
  readonly episodeId: string;
  /** The hosts holding a tarball with this id, in scan order. */
  readonly hosts: readonly string[];
  /** The tarballs, in the same order. */
  readonly paths: readonly string[];
  /** Whether the index already had a row for this id before the run. */
  readonly alreadyIndexed: boolean;
}

/** Progress reported while tarballs are hashed. */
export interface IndexBackfillProgress {
  /** Episode tarballs found under the selected hosts. */
  readonly scanned: number;
  /** Tarballs that need a row. */
  readonly total: number;
  /** Tarballs hashed and probed so far. */
  readonly done: number;
  /** Rows appended so far (0 in a dry run). */
  readonly appended: number;
}

/** Options of {@link backfillIndex}. */
export interface BackfillIndexOptions {
  /** Directory holding `<host>/<episode>.tar.zst`. */
  readonly episodesRoot: string;
  /**
   * The append-only `index.jsonl`; created (mode 0664 minus umask) when
   * missing, except by root in a directory another user owns (`IO_ERROR`:
   * the receiver could not append to a file root owns).
   */
  readonly index: string;
  /** Only walk this host's directory. */
  readonly host?: string;
  /**
   * Follow symbolic links (host directories or tarballs) whose target lies
   * outside `episodesRoot`. By default they are not followed: each gets a
   * `SYMLINK_OUTSIDE_ROOT` warning and is listed in
   * {@link IndexBackfillReport.symlinksNotFollowed}, so a link planted in the
   * tree cannot make the run hash (and index) files from elsewhere. Links
   * that stay inside the root are always followed.
   * @defaultValue false
   */
  readonly followSymlinks?: boolean;
  /**
   * Compute the rows but write nothing (no lock file either).
   * @defaultValue false
   */
  readonly dryRun?: boolean;
  /**
   * Tarballs hashed and probed at once.
   * @defaultValue {@link DEFAULT_INDEX_BACKFILL_CONCURRENCY} (8)
   */
  readonly concurrency?: number;
  /**
   * The clock stamped into `received_at_wall`. It must return a valid
   * `Date` in the years 0001 to 9999; anything else stops the run with
   * `INVALID_ARGUMENT` before that row is appended.
   * @defaultValue `() => new Date()`
   */
  readonly now?: () => Date;
  /**
   * Accept a commit only when it is 40 hex digits. The runbook's tool accepts
   * any 40-character string (and lowercases it); that is the default, so
   * both tools write the same rows.
   * @defaultValue false
   */
  readonly requireHexCommit?: boolean;
  /**
   * The advisory lock file: a file of its own, never the index
   * (`INVALID_ARGUMENT`) or a tarball.
   * @defaultValue `<index>.backfill.lock`, beside the file `index` leads to
   * when it is a symbolic link (so every path to one index shares a lock)
   */
  readonly lockPath?: string;
  /**
   * Bytes per read of a tarball, at most {@link MAX_INDEX_READ_CHUNK_BYTES} (64 MiB).
   * @defaultValue {@link DEFAULT_INDEX_READ_CHUNK_BYTES} (1 MiB)
   */
  readonly readChunkBytes?: number;
  /**
   * Decompressed bytes the search for `meta.json` may produce per tarball.
   * @defaultValue {@link DEFAULT_INDEX_MAX_DECOMPRESSED_BYTES} (16 GiB)
   */
  readonly maxDecompressedBytes?: number;
  /**
   * Largest `meta.json` read into memory.
   * @defaultValue {@link DEFAULT_INDEX_MAX_META_BYTES} (16 MiB)
   */
  readonly maxMetaBytes?: number;
  /**
   * Longest line of the existing index that is read, in UTF-8 bytes without
   * the line break. A longer line stops the run with `LINE_TOO_LONG` before
   * anything is appended: it may hold an episode id.
   * @defaultValue {@link DEFAULT_INDEX_MAX_LINE_BYTES} (1 MiB)
   */
  readonly maxIndexLineBytes?: number;
  /** Called as tarballs are scanned, with counts so far. A callback that throws is ignored (logged once at warn). */
  readonly onProgress?: (progress: IndexBackfillProgress) => void;
  /** Stops the scan; nothing is appended after the signal fires. */
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/** What {@link backfillIndex} did (or, in a dry run, would do). */
export interface IndexBackfillReport {
  /** Episode tarballs found under the selected hosts. */
  readonly scanned: number;
  /** Of those, episodes the index already lists, including those someone else (the receiver) indexed while the run went on. */
  readonly alreadyIndexed: number;
  /** Rows to append (in a dry run: that would be appended), in the runbook tool's order. */
  readonly toBackfill: number;
  readonly rows: readonly IndexRow[];
  /** Rows actually appended (0 in a dry run). */
  readonly appended: number;
  /** Tarballs that could not be read at all; reported in `warnings`, no row. */
  readonly skipped: number;
  readonly warnings: readonly IndexBackfillWarning[];
  /** Symbolic links under the root that lead out of it and were not followed (see `followSymlinks`). */
  readonly symlinksNotFollowed: readonly string[];
  /** Episode ids found on more than one host; each also gets an `EPISODE_ID_DUPLICATE` warning. */
  readonly duplicateEpisodes: readonly DuplicateEpisode[];
  readonly dryRun: boolean;
}
