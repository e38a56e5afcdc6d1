/**
 * Pure rules of the statements sink: which backfilled-document records a
 * run may trust (only those a checkpoint covers), which committed writer a
 * record keeps when it is overwritten, and how a batch is cut into
 * transactions of bounded size.
 *
 * @module
 */
import type { DocumentClaims, VexClaim } from '../statements/ports.js';

/** Who wrote a backfilled-document record: a run, and where its checkpoint must be for the record to count. */
export interface RecordWriter {
  /** The run that wrote it (absent in records written before this rule). */
  readonly runId?: string;
  /** That run's `counters.evaluated` once the record's batch is committed. */
  readonly through?: number;
}

/** A `statement_documents` record as `existingDigests` reads it. */
export interface DocumentRecord extends RecordWriter {
  readonly _id: string;
  /**
   * The writer that made the record count when a later run overwrote it
   * (see {@link keptWriters}); `null` or absent when none did.
   */
  readonly lastCommitted?: RecordWriter | null;
}

/** Whether `writer`'s batch is committed: its run's checkpoint has reached it. A writer without `runId`/`through` (an older version's record) is. */
function committed(writer: RecordWriter, evaluatedByRun: ReadonlyMap<string, number>): boolean {
  if (typeof writer.runId !== 'string' || typeof writer.through !== 'number') return true;
  const reached = evaluatedByRun.get(writer.runId);
  return reached !== undefined && reached >= writer.through;
}

/** The committed writer that makes `record` count: its latest writer, else the one it kept; `null` when neither is committed. */
function committedWriter(record: DocumentRecord, evaluatedByRun: ReadonlyMap<string, number>): RecordWriter | null {
  if (committed(record, evaluatedByRun)) {
    const { runId, through } = record;
    return { ...(runId === undefined ? {} : { runId }), ...(through === undefined ? {} : { through }) };
  }
  const kept = record.lastCommitted;
  return kept != null && committed(kept, evaluatedByRun) ? kept : null;
}

/** The runs whose checkpoints decide whether `records` count: their writers' and the writers they kept. */
export function writerRuns(records: readonly DocumentRecord[]): string[] {
  const runs = records.flatMap((r) => [r.runId, r.lastCommitted?.runId]);
  return [...new Set(runs.filter((run): run is string => typeof run === 'string'))];
}

/**
 * The digests whose records are committed: a record counts when the
 * checkpoint of the run that wrote it has reached the record's batch
 * (`evaluated >= through`), or when the writer it kept from before that
 * run overwrote it had ({@link keptWriters}). A record written by a batch
 * that never reached its checkpoint (a standalone server, or a batch split
 * over several transactions, cut short) does not count on its own, so the
 * resumed run backfills that document again instead of counting it as
 * skipped, and ends with the counters and report hash of an uninterrupted
 * run; yet a document an earlier run had committed stays trusted, as on
 * PostgreSQL, where the cut batch rolls back whole. Records without
 * `runId`/`through` (older versions) count.
 *
 * @example
 * ```ts
 * trustedDigests([{ _id: 'a', runId: 'r', through: 10 }, { _id: 'b', runId: 'r', through: 20 }], new Map([['r', 10]]));
 * // Set { 'a' }
 * ```
 */
export function trustedDigests(records: readonly DocumentRecord[], evaluatedByRun: ReadonlyMap<string, number>): Set<string> {
  return new Set(records.filter((r) => committedWriter(r, evaluatedByRun) !== null).map((r) => r._id));
}

/**
 * What each record about to be overwritten keeps as `lastCommitted`: its
 * committed writer (`null` when it has none), so the new writer's batch,
 * not yet committed, does not make a committed record stop counting if it
 * is cut short. Records overwritten again before the new writer's
 * checkpoint reaches them keep the same one; once it does, the new writer
 * is the committed one.
 *
 * @example
 * ```ts
 * keptWriters([{ _id: 'a', runId: 'first', through: 10 }], new Map([['first', 60]]));
 * // Map { 'a' => { runId: 'first', through: 10 } }
 * ```
 */
export function keptWriters(
  records: readonly DocumentRecord[],
  evaluatedByRun: ReadonlyMap<string, number>,
): Map<string, RecordWriter | null> {
  return new Map(records.map((r) => [r._id, committedWriter(r, evaluatedByRun)]));
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
