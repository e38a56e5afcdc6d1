/**
 * The CLI's exit codes. 0 means full success and nothing else does: a
 * mismatch, a rejected line or a failed document always exits non-zero,
 * so "COPY 0, exit 0" cannot happen.
 *
 * @module
 * @internal
 */
import type { BackfillErrorCode } from '../errors.js';

/** Every exit status the CLI uses, with what it means. */
export const EXIT_CODES = {
  OK: { code: 0, meaning: 'Full success: every check ran and passed, nothing was rejected or failed.' },
  INTERNAL: { code: 1, meaning: 'Unexpected internal error (a bug): rerun with --debug and report the stack.' },
  USAGE: {
    code: 2,
    meaning:
      "Bad command line, flag value or configuration (unknown flag, missing argument, invalid identifier, no database configured, missing episodes root or --host directory, a gate --repo that is not a readable git clone, a gate check <commit> that is not a full commit hash, a statements --runs-table that no run was planned with, or a --ranges-table or --workers-table other than the planner's).",
  },
  MISMATCH: {
    code: 3,
    meaning: 'Verification failed: a checksum, manifest, row count or signature does not match. Nothing was committed.',
  },
  REJECTS: {
    code: 4,
    meaning:
      "The run finished but rejected or failed some items (rejected lines, failed documents, unreadable episodes, a planned run's range that failed every retry); see the report.",
  },
  DATA: {
    code: 5,
    meaning:
      'The input is unusable: corrupt or truncated archive (for index backfill: a tarball whose row got no commit), malformed JSON, duplicate ids, bad documents.',
  },
  DATABASE: {
    code: 6,
    meaning:
      'The database could not be reached, rejected a statement, timed out on a lock, lacks a table, or holds what stops the change (a table of another shape, a foreign key on the rows it would move).',
  },
  REFUSED: {
    code: 7,
    meaning:
      "Refused: the version gate rejected the commit, another run holds the lock, a planned run is still running, or the host's clock disagrees with the database's.",
  },
  IO: { code: 8, meaning: 'A file could not be read or written.' },
  ABORTED: {
    code: 130,
    meaning:
      'Interrupted (SIGINT, SIGTERM, or SIGHUP when the terminal or SSH session closes). An import committed nothing partial; a statement backfill keeps its committed batches and resumes when run again with the same --run-id.',
  },
} as const;

/** A name of {@link EXIT_CODES}. */
export type ExitName = keyof typeof EXIT_CODES;

const BY_ERROR: Partial<Record<BackfillErrorCode, ExitName>> = {
  INVALID_ARGUMENT: 'USAGE',
  INVALID_IDENTIFIER: 'USAGE',
  EPISODES_ROOT_MISSING: 'USAGE',
  PARTITION_NAME_INVALID: 'USAGE',
  IO_ERROR: 'IO',
  ABORTED: 'ABORTED',
  CHECKSUM_MISMATCH: 'MISMATCH',
  MANIFEST_MISMATCH: 'MISMATCH',
  COUNT_MISMATCH: 'MISMATCH',
  CHECKSUM_LINE_MALFORMED: 'MISMATCH',
  CHECKSUM_PATH_UNSAFE: 'MISMATCH',
  FILE_MISSING: 'MISMATCH',
  SIGNATURE_MISSING: 'MISMATCH',
  SIGNATURE_INVALID: 'MISMATCH',
  SUBJECT_MISMATCH: 'MISMATCH',
  DB_CONNECTION: 'DATABASE',
  DB_ERROR: 'DATABASE',
  LOCK_TIMEOUT: 'DATABASE',
  TABLE_NOT_FOUND: 'DATABASE',
  TABLE_NOT_PARTITIONED: 'DATABASE',
  PARTITION_OVERLAP: 'DATABASE',
  PARTITION_NAME_TAKEN: 'DATABASE',
  PARTITION_OUT_OF_RANGE: 'DATABASE',
  TABLE_SHAPE_MISMATCH: 'DATABASE',
  TABLE_REFERENCED: 'DATABASE',
  MONGO_ERROR: 'DATABASE',
  COMMIT_INCOMPLETE: 'DATABASE',
  COMMIT_MISSING: 'REFUSED',
  COMMIT_MALFORMED: 'REFUSED',
  COMMIT_NOT_RECENT: 'REFUSED',
  GATE_UNAVAILABLE: 'REFUSED',
  LOCKED: 'REFUSED',
  CLOCK_SKEW: 'REFUSED',
  RANGE_FAILED: 'REJECTS',
  RUN_IN_PROGRESS: 'REFUSED',
};

/** The exit status for a failed operation's error code; anything not listed is bad input data. */
export function exitCodeForError(code: BackfillErrorCode): number {
  return EXIT_CODES[BY_ERROR[code] ?? 'DATA'].code;
}
