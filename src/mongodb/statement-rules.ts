/**
 * Pure rules of the statements sink: which backfilled-document records a
 * run may trust (only those its checkpoint covers), and how a batch is cut
 * into transactions of bounded size.
 *
 * @module
 */
import type { DocumentClaims, VexClaim } from '../statements/ports.js';

/** A `statement_documents` record as `existingDigests` reads it. */
export interface DocumentRecord {
  readonly _id: string;
  /** The run that wrote it (absent in records written before this rule). */
  readonly runId?: string;
  /** That run's `counters.evaluated` once the record's batch is committed. */
  readonly through?: number;
}

/**
 * The digests whose records are committed: a record counts only when the
 * checkpoint of the run that wrote it has reached the record's batch
 * (`evaluated >= through`). A record written by a batch that never reached
 * its checkpoint (a standalone server, or a batch split over several
 * transactions, cut short) does not count, so the resumed run backfills
 * that document again instead of counting it as skipped, and ends with the
 * counters and report hash of an uninterrupted run. Records without
 * `runId`/`through` (older versions) count.
 *
 * @example
 * ```ts
 * trustedDigests([{ _id: 'a', runId: 'r', through: 10 }, { _id: 'b', runId: 'r', through: 20 }], new Map([['r', 10]]));
 * // Set { 'a' }
 * ```
 */
export function trustedDigests(records: readonly DocumentRecord[], evaluatedByRun: ReadonlyMap<string, number>): Set<string> {
  const out = new Set<string>();
  for (const r of records) {
    if (typeof r.runId !== 'string' || typeof r.through !== 'number') {
      out.add(r._id);
      continue;
    }
    const reached = evaluatedByRun.get(r.runId);
    if (reached !== undefined && reached >= r.through) out.add(r._id);
  }
  return out;
}

/** How much one transaction may write. */
export interface TransactionLimits {
  /** Most claims upserted in one transaction (at least 1). */
  readonly maxClaims: number;
  /** Most bytes of claims (UTF-8 JSON) in one transaction. */
  readonly maxBytes: number;
}

/**
 * Cuts a batch's documents into consecutive parts, each within `limits`
 * (a document whose claims alone exceed them travels alone: its delete and
 * upserts must commit together). Each part is one transaction; the last
 * part carries the failures and the checkpoint. Order is kept.
 *
 * @example
 * ```ts
 * splitForTransactions(batch.documents, { maxClaims: 1000, maxBytes: 8 << 20 }, (c) => JSON.stringify(c).length);
 * ```
 */
export function splitForTransactions(
  documents: readonly DocumentClaims[],
  limits: TransactionLimits,
  bytesOf: (claim: VexClaim) => number,
): DocumentClaims[][] {
  const parts: DocumentClaims[][] = [];
  let current: DocumentClaims[] = [];
  let claims = 0;
  let bytes = 0;
  for (const doc of documents) {
    const docBytes = doc.claims.reduce((n, c) => n + bytesOf(c), 0);
    if (current.length > 0 && (claims + doc.claims.length > limits.maxClaims || bytes + docBytes > limits.maxBytes)) {
      parts.push(current);
      current = [];
      claims = 0;
      bytes = 0;
    }
    current.push(doc);
    claims += doc.claims.length;
    bytes += docBytes;
  }
  parts.push(current);
  return parts;
}
