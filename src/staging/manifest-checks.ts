/**
 * The checks an import runs before it commits: the tarball's digest, each
 * member against its manifest entry, and each table's count.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { DatasetManifest, DatasetStats } from '../dataset/types.js';
import type { MemberSpec } from './import-context.js';

/** One table's figures in the current pass. */
export interface TableCounts {
  loaded: number;
  rejected: number;
  expected: number | null;
}

export function checkTarballDigest(stats: DatasetStats, expected: string): Result<void, BackfillError> {
  if (stats.sha256 === expected.toLowerCase()) return ok(undefined);
  return err(
    new BackfillError(
      'CHECKSUM_MISMATCH',
      `the tarball's SHA-256 is ${stats.sha256}, not the expected ${expected}; fetch it again. Nothing was committed.`,
      { context: { digest: stats.sha256 } },
    ),
  );
}

export type ManifestEntry = DatasetManifest['members'][number];

/** The member was read, is in the manifest, and its bytes and SHA-256 match what the manifest records. */
export function checkMember(
  spec: MemberSpec,
  seen: ReadonlySet<string>,
  stats: DatasetStats<string>,
  manifest: DatasetManifest,
): Result<ManifestEntry, BackfillError> {
  const entry = manifest.members.find((m) => m.name === spec.member);
  const measured = stats.members.find((m) => m.name === spec.member);
  if (!seen.has(spec.member) || measured === undefined) {
    return err(
      new BackfillError(
        'MANIFEST_MISMATCH',
        `the archive has no member ${spec.member}, which is configured for table ${spec.table}. Nothing was committed.`,
        { context: { member: spec.member, table: spec.table } },
      ),
    );
  }
  if (entry === undefined) {
    return err(
      new BackfillError(
        'MANIFEST_MISMATCH',
        `manifest.json does not list ${spec.member}, so its row count cannot be checked. Nothing was committed.`,
        { context: { member: spec.member, table: spec.table } },
      ),
    );
  }
  if (entry.bytes !== undefined && entry.bytes !== measured.bytes) {
    return err(
      new BackfillError(
        'MANIFEST_MISMATCH',
        `${spec.member} is ${measured.bytes} bytes but the manifest says ${entry.bytes}. Nothing was committed.`,
        { context: { member: spec.member, expected: entry.bytes, actual: measured.bytes } },
      ),
    );
  }
  if (entry.sha256 !== undefined && entry.sha256.toLowerCase() !== measured.sha256) {
    return err(
      new BackfillError(
        'CHECKSUM_MISMATCH',
        `${spec.member} has SHA-256 ${measured.sha256} but the manifest says ${entry.sha256}. Nothing was committed.`,
        { context: { member: spec.member, digest: measured.sha256 } },
      ),
    );
  }
  return ok(entry);
}

/** Rows counted in the session equal the rows loaded, and with the rejected lines make up the manifest's records. */
export function checkCount(spec: MemberSpec, table: TableCounts, count: number): Result<void, BackfillError> {
  const expected = table.expected ?? 0;
  if (count === table.loaded && count + table.rejected === expected) return ok(undefined);
  return err(
    new BackfillError(
      'COUNT_MISMATCH',
      `${spec.member}: the manifest says ${expected} records, but ${count} rows were loaded into ${spec.table}${table.rejected > 0 ? ` and ${table.rejected} lines rejected` : ''}. Nothing was committed.`,
      { context: { member: spec.member, table: spec.table, expected, loaded: count, rejected: table.rejected } },
    ),
  );
}
