/**
 * The ports of the statement backfill: where raw documents come from
 * ({@link RawDocumentSource}), where claims go ({@link StatementSink}), and
 * where a run's checkpoint lives ({@link CheckpointStore}). PostgreSQL
 * implementations ship in this module; MongoDB ones implement the same
 * interfaces.
 *
 * @module
 */
import type { Result, ResultAsync } from 'neverthrow';
import type { BackfillError, BackfillErrorCode } from '../errors.js';

/**
 * The VEX formats the bundled normalizers understand. Custom normalizers may use other names.
 *
 * @example
 * ```ts
 * const format: VexFormat = 'csaf';
 * ```
 */
export type VexFormat = 'openvex' | 'csaf' | 'cyclonedx';

/**
 * The normalized status set every format maps into.
 *
 * @example
 * ```ts
 * const status: ClaimStatus = 'under_investigation';
 * ```
 */
export type ClaimStatus = 'not_affected' | 'affected' | 'fixed' | 'under_investigation';

/**
 * One statement about one vulnerability and one product, taken from one raw
 * document. `(documentDigest, vulnerabilityId, productKey)` is its identity.
 *
 * @example
 * ```ts
 * const claim: VexClaim = {
 *   vulnerabilityId: 'CVE-2025-0001',
 *   productKey: 'pkg:npm/left-pad@1.3.0',
 *   status: 'not_affected',
 *   justification: 'vulnerable_code_not_in_execute_path',
 *   documentDigest: 'sha256:…',
 *   format: 'openvex',
 * };
 * ```
 */
export interface VexClaim {
  /** CVE or other vulnerability id, as the document names it. */
  readonly vulnerabilityId: string;
  /** A purl or CPE when the document gives one, otherwise the document's own product id. */
  readonly productKey: string;
  readonly status: ClaimStatus;
  /** The format's justification label (OpenVEX `justification`, CSAF flag label, CycloneDX `analysis.justification`). */
  readonly justification?: string;
  /** Free text: impact statement, action statement or detail. */
  readonly statement?: string;
  /**
   * When the statement was issued, if the document says: stored as
   * `YYYY-MM-DDTHH:MM:SS.sssZ`. The built-in normalizers take it from the
   * document's RFC 3339 / ISO-8601 times, reading one without an offset as UTC
   * and skipping to the next time the format gives (see the README table) past
   * one that is not such a time in the years 0001 to 9999. A custom
   * normalizer may give any such time (UTC without an offset); any other text
   * fails the document with `DOCUMENT_INVALID`.
   */
  readonly issuedAt?: string;
  /** Digest of the raw document the claim came from. */
  readonly documentDigest: string;
  /** `openvex`, `csaf`, `cyclonedx`, or a custom normalizer's format. */
  readonly format: string;
}

/**
 * A position in the `(retrievedAt, digest)` order of raw documents.
 * `retrievedAt` is an ISO-8601 string carrying the store's full precision
 * (microseconds for PostgreSQL, milliseconds for MongoDB), so resuming never
 * skips or repeats a document that shares a millisecond with another.
 *
 * @example
 * ```ts
 * const cursor: DocumentCursor = { retrievedAt: '2025-10-19T08:00:00.123456Z', digest: 'sha256:ab…' };
 * ```
 */
export interface DocumentCursor {
  readonly retrievedAt: string;
  readonly digest: string;
}

/**
 * One raw VEX document as stored at ingest.
 *
 * @example
 * ```ts
 * const doc: RawDocument = {
 *   digest: 'sha256:ab…',
 *   retrievedAt: new Date('2025-10-19T08:00:00Z'),
 *   cursor: { retrievedAt: '2025-10-19T08:00:00.000000Z', digest: 'sha256:ab…' },
 *   content: '{"@context":"https://openvex.dev/ns/v0.2.0", …}',
 * };
 * ```
 */
export interface RawDocument {
  /** Content digest (e.g. `sha256:<hex>`); the dedupe key. */
  readonly digest: string;
  readonly retrievedAt: Date;
  /** This document's exact position, for keyset pagination and checkpoints. */
  readonly cursor: DocumentCursor;
  /**
   * The document: its JSON text (a `PgRawDocumentSource` passes jsonb as
   * its text) or bytes (UTF-8), or an already parsed object (a BSON
   * document).
   */
  readonly content: string | Uint8Array | Readonly<Record<string, unknown>>;
  /**
   * Set by a source that could not pass the content on (then `content` is
   * empty): why, and what to do. The document fails with `DOCUMENT_INVALID`
   * and this reason, without being normalized.
   */
  readonly unreadable?: string;
  /** Optional hint from the store (e.g. the ingest connector's format). Detection does not depend on it. */
  readonly formatHint?: string;
  /** Optional provider / source id, for logs. */
  readonly providerId?: string;
}

/**
 * What {@link RawDocumentSource.readPage} is asked for.
 *
 * @example
 * ```ts
 * const query: RawDocumentPageQuery = { after: cursor, limit: 500 };
 * ```
 */
export interface RawDocumentPageQuery {
  /** Return documents strictly after this position; from the start when absent. */
  readonly after?: DocumentCursor;
  /** Only documents with `retrievedAt >= retrievedSince`. */
  readonly retrievedSince?: Date;
  /**
   * Only documents at or before this position (a planned key range's end).
   * A source that cannot bound a page may ignore it: the backfiller also
   * stops at the document whose cursor equals it.
   */
  readonly until?: DocumentCursor;
  /** At most this many documents. */
  readonly limit: number;
  /**
   * At most this many bytes of content in all, but always the first
   * document, however large: a page ends before the document that would
   * take it over. A source that cannot measure content before reading it
   * may ignore it (pages are then bounded by `limit` alone).
   */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

/**
 * What {@link RawDocumentSource.count} is asked for.
 *
 * @example
 * ```ts
 * const query: RawDocumentCountQuery = { retrievedSince: new Date('2025-10-01T00:00:00Z') };
 * ```
 */
export interface RawDocumentCountQuery {
  readonly after?: DocumentCursor;
  readonly retrievedSince?: Date;
  /** Only documents at or before this position. */
  readonly until?: DocumentCursor;
  readonly signal?: AbortSignal;
}

/**
 * Raw documents in ascending `(retrievedAt, digest)` order, read one page at a
 * time by keyset (`WHERE (retrieved_at, digest) > cursor ORDER BY … LIMIT n`,
 * or `find({ $or: [...] }).sort({ retrievedAt: 1, digest: 1 }).limit(n)`),
 * never by OFFSET.
 *
 * @example
 * ```ts
 * const page = await source.readPage({ limit: 100, retrievedSince: new Date('2025-10-01T00:00:00Z') });
 * if (page.isOk()) for (const doc of page.value) console.log(doc.digest);
 * ```
 */
export interface RawDocumentSource {
  /** The next page in `(retrievedAt, digest)` order; an empty page means the end. */
  readPage(query: RawDocumentPageQuery): ResultAsync<readonly RawDocument[], BackfillError>;
  /** How many documents remain after `after` (for progress and ETA). Optional. */
  count?(query: RawDocumentCountQuery): ResultAsync<number, BackfillError>;
  /**
   * Cuts the keyspace into consecutive ranges of `rangeSize` documents (the
   * last may be shorter), for a distributed run. Optional: planning needs it.
   */
  keyRanges?(query: KeyRangesQuery): ResultAsync<readonly KeyRange[], BackfillError>;
}

/**
 * What {@link RawDocumentSource.keyRanges} is asked for.
 *
 * @example
 * ```ts
 * const query: KeyRangesQuery = { rangeSize: 1000, maxDocuments: 50_000 };
 * ```
 */
export interface KeyRangesQuery {
  readonly rangeSize: number;
  readonly retrievedSince?: Date;
  /** Only the documents after this one (the first range starts after it). */
  readonly after?: DocumentCursor;
  /** Only documents at or before this position. */
  readonly until?: DocumentCursor;
  /** Only the first this many documents of the keyspace (after `after`). */
  readonly maxDocuments?: number;
}

/**
 * A slice of the `(retrievedAt, digest)` keyspace: the documents after
 * `after` (from the start when `null`) up to and including `through`.
 *
 * @example
 * ```ts
 * const range: KeyRange = { after: null, through: { retrievedAt: '2025-10-19T08:00:00.000000Z', digest: 'sha256:ab…' }, documents: 1000 };
 * ```
 */
export interface KeyRange {
  readonly after: DocumentCursor | null;
  readonly through: DocumentCursor;
  /** How many documents the range held when it was planned. */
  readonly documents: number;
}

/**
 * A document that could not be backfilled.
 *
 * @example
 * ```ts
 * const failure: BackfillFailure = { digest: 'sha256:ab…', code: 'NO_NORMALIZER', message: 'no registered normalizer recognises its format' };
 * ```
 */
export interface BackfillFailure {
  readonly digest: string;
  readonly code: BackfillErrorCode;
  readonly message: string;
}

/**
 * The running counters of a backfill run; the summary line prints them.
 *
 * @example
 * ```ts
 * const c: BackfillCounters = { evaluated: 450, backfilled: 180, claimsWritten: 320, skipped: 270, failures: 0 };
 * ```
 */
export interface BackfillCounters {
  /** Documents read from the source. */
  readonly evaluated: number;
  /** Documents normalized and written to the sink. */
  readonly backfilled: number;
  /** Claims written for those documents. */
  readonly claimsWritten: number;
  /** Documents whose digest already had statements (without `force`), or repeated within the run. */
  readonly skipped: number;
  /** Documents that could not be normalized. */
  readonly failures: number;
}

/**
 * The options a run was started with; a resumed run must use the same ones.
 *
 * @example
 * ```ts
 * const o: CheckpointOptions = { retrievedSince: null, force: false, maxDocuments: 2000 };
 * ```
 */
export interface CheckpointOptions {
  /** ISO-8601, or `null` for no lower bound. */
  readonly retrievedSince: string | null;
  readonly force: boolean;
  readonly maxDocuments: number | null;
}

/**
 * The state of a run after its last committed batch. It is saved in the same
 * transaction as that batch, so the claims and the checkpoint never disagree.
 *
 * @example
 * ```ts
 * const saved = await sink.loadCheckpoint('nightly-2025-10-19');
 * if (saved.isOk() && saved.value) console.log(saved.value.cursor, saved.value.counters);
 * ```
 */
export interface BackfillCheckpoint {
  readonly runId: string;
  /** Position of the last evaluated document; `null` before the first batch. */
  readonly cursor: DocumentCursor | null;
  readonly counters: BackfillCounters;
  readonly options: CheckpointOptions;
  /**
   * Sum (mod 2^256, 64 hex digits) of `sha256(digest + " " + outcome)` over
   * each evaluated document, so the report hash of a resumed or distributed
   * run equals that of an uninterrupted single-process one.
   */
  readonly outcomeSha256: string;
  /** True once the source was exhausted or `maxDocuments` was reached. */
  readonly completed: boolean;
}

/**
 * A checkpoint as loaded back, with every failure recorded for the run.
 *
 * @example
 * ```ts
 * const result = await sink.loadCheckpoint('run-1');
 * if (result.isErr()) throw result.error;
 * const cp = result.value;
 * if (cp) console.log(cp.failed.length, 'failures so far');
 * ```
 */
export interface StoredCheckpoint extends BackfillCheckpoint {
  /** All failures committed so far, in processing order. */
  readonly failed: readonly BackfillFailure[];
}

/**
 * Where checkpoints are read from. Saving happens inside
 * {@link StatementSink.commitBatch}, in the same unit of work as the claims.
 *
 * @example
 * ```ts
 * const cp = await store.loadCheckpoint('run-1');
 * ```
 */
export interface CheckpointStore {
  /** The run's checkpoint, or `null` if the run never committed a batch. */
  loadCheckpoint(runId: string): ResultAsync<StoredCheckpoint | null, BackfillError>;
  /**
   * Makes this process the run's only writer until `release()`, or fails
   * with `LOCKED` naming the holder (its application name, pid and host as
   * far as the store knows them). A holder that dies must not keep the lock.
   * Optional: without it, two processes given the same run id would both
   * write the checkpoint, and the last writer's counters would win.
   */
  lockRun?(runId: string): ResultAsync<RunLock, BackfillError>;
}

/**
 * A run lock taken with {@link CheckpointStore.lockRun}.
 *
 * @example
 * ```ts
 * const lock = await store.lockRun!('nightly');
 * if (lock.isOk()) try { await work(); } finally { await lock.value.release(); }
 * ```
 */
export interface RunLock {
  /** Gives the lock back; safe to call twice. */
  release(): Promise<void>;
}

/**
 * One document's claims within a batch.
 *
 * @example
 * ```ts
 * const d: DocumentClaims = { digest: 'sha256:ab…', format: 'openvex', claims: [] };
 * ```
 */
export interface DocumentClaims {
  readonly digest: string;
  readonly format: string;
  /** Deduplicated on `(vulnerabilityId, productKey)`; may be empty. */
  readonly claims: readonly VexClaim[];
}

/**
 * Everything {@link StatementSink.commitBatch} writes in one unit.
 *
 * @example
 * ```ts
 * await sink.commitBatch({ runId: 'r', force: false, documents, failures: [], checkpoint });
 * ```
 */
export interface StatementBatch {
  readonly runId: string;
  /** Replace each document's existing claims instead of assuming it has none. */
  readonly force: boolean;
  /** Documents to write, each with all of its claims. */
  readonly documents: readonly DocumentClaims[];
  /** Failures first seen in this batch (to append to the run's list). */
  readonly failures: readonly BackfillFailure[];
  /** The run's state after this batch. */
  readonly checkpoint: BackfillCheckpoint;
}

/**
 * What a committed batch wrote.
 *
 * @example
 * ```ts
 * const result = await sink.commitBatch(batch);
 * if (result.isErr()) throw result.error;
 * const { claimsWritten } = result.value;
 * ```
 */
export interface StatementBatchResult {
  /** Claims inserted (after replacing, under `force`). */
  readonly claimsWritten: number;
}

/**
 * The statements store. A batch's claims and the run's checkpoint commit
 * together or not at all (one PostgreSQL transaction, or one MongoDB
 * transaction on a replica set). Under `force`, each document's earlier claims
 * are deleted and its new ones inserted in that same unit, so a document is
 * never half-replaced and never duplicated. The unique identity of a claim is
 * `(documentDigest, vulnerabilityId, productKey)`.
 *
 * A sink also remembers which documents were backfilled (even those that
 * yielded no claims), so reruns without `force` skip them.
 *
 * @example
 * ```ts
 * const have = await sink.existingDigests(['sha256:aa…', 'sha256:bb…']);
 * ```
 */
export interface StatementSink extends CheckpointStore {
  /** Creates tables / collections and indexes if they are missing. Called once per run. */
  prepare?(): ResultAsync<void, BackfillError>;
  /** Of `digests`, the ones that already have statements (were backfilled before). */
  existingDigests(digests: readonly string[]): ResultAsync<ReadonlySet<string>, BackfillError>;
  /** Writes a batch of documents' claims and the checkpoint atomically. */
  commitBatch(batch: StatementBatch): ResultAsync<StatementBatchResult, BackfillError>;
}

/**
 * What a normalizer knows about the document besides its content.
 *
 * @example
 * ```ts
 * openVexNormalizer.normalize(doc, { digest: 'sha256:ab…', retrievedAt: new Date() });
 * ```
 */
export interface NormalizeContext {
  readonly digest: string;
  readonly retrievedAt: Date;
}

/**
 * Turns one parsed document of one format into claims. The backfill checks
 * what a normalizer does with each document: it fails that document alone
 * (`DOCUMENT_INVALID`) when `canNormalize` or `normalize` throws,
 * `normalize` returns anything but a Result of an array of claim objects, a
 * claim field typed `string` holds anything else (`null` included: leave an
 * optional one out), or a claim's `documentDigest` is not the document's.
 *
 * @example
 * ```ts
 * const custom: VexNormalizer = {
 *   format: 'my-vex',
 *   canNormalize: (doc) => typeof doc === 'object' && doc !== null && 'myVex' in doc,
 *   normalize: (doc, ctx) => ok([]),
 * };
 * ```
 */
export interface VexNormalizer {
  readonly format: string;
  /** Cheap structural check: is this document in my format? */
  canNormalize(document: unknown): boolean;
  /** The document's claims, or `DOCUMENT_INVALID` naming the offending field. */
  normalize(document: unknown, context: NormalizeContext): Result<readonly VexClaim[], BackfillError>;
}
