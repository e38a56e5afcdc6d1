/**
 * Defaults of the statement backfill, in one place so the docs and the code
 * agree.
 *
 * @module
 */
import { csafVexNormalizer } from './normalizers/csaf.js';
import { cycloneDxVexNormalizer } from './normalizers/cyclonedx.js';
import { openVexNormalizer } from './normalizers/openvex.js';
import type { VexNormalizer } from './ports.js';

export { MAX_CLAIM_KEY_BYTES, MAX_SUBCOMPONENT_CLAIMS } from './normalizers/fields.js';

/** Raw documents pulled per batch (the backfill command's `--batch-size`, default `100`). */
export const DEFAULT_BATCH_SIZE = 100;

/** Largest accepted `batchSize`; a batch is one transaction and one page in memory. */
export const MAX_BATCH_SIZE = 10_000;

/**
 * Most bytes of document content a batch reads (the backfill command's
 * `--max-batch-bytes`, default 64 MiB), besides its `batchSize` documents;
 * a document larger than this still goes through, in a batch of its own.
 * A batch in memory is about its raw text (held as a JavaScript string, up
 * to twice its bytes) plus the objects parsed from it (several times the
 * text), so 64 MiB of content costs a few hundred MB of heap for typical VEX JSON: within
 * Node's default heap on a small host, also with a page read ahead and
 * normalizer threads each holding a document.
 */
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024 * 1024;

/** Largest accepted `maxBatchBytes` (the largest safe integer: no real budget is near it). */
export const MAX_BATCH_BYTES_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Most bytes (UTF-8) of claims one document may make (the backfill and plan
 * commands' `--max-claim-bytes`, default 64 MiB): the text of every claim
 * it returns, its key, statement, justification and time each counted in
 * full, as each claim row stores them. A document over it fails with
 * `DOCUMENT_INVALID` and writes no claim: a few megabytes of VEX that give
 * one long statement to each of 100,000 products would otherwise write
 * about 100 GB of rows, which `maxBatchBytes` (a bound on the documents'
 * bytes) does not see.
 */
export const DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT = 64 * 1024 * 1024;

/** Largest accepted `maxClaimBytesPerDocument` (the largest safe integer). */
export const MAX_CLAIM_BYTES_PER_DOCUMENT_LIMIT = Number.MAX_SAFE_INTEGER;

/** Table the PostgreSQL source reads raw documents from. */
export const DEFAULT_RAW_DOCUMENTS_TABLE = 'vex.raw_documents';

/** Table the PostgreSQL sink writes claims to. */
export const DEFAULT_STATEMENTS_TABLE = 'vex.statements';

/** Table recording which documents were backfilled (so reruns skip them, even with zero claims). */
export const DEFAULT_DOCUMENTS_TABLE = 'vex.statement_documents';

/** Table holding one checkpoint row per run id. */
export const DEFAULT_CHECKPOINTS_TABLE = 'vex.statement_backfill_checkpoints';

/** Table holding the failures recorded per run id. */
export const DEFAULT_FAILURES_TABLE = 'vex.statement_backfill_failures';

/** Longest failure message kept in reports and checkpoints (characters). */
export const MAX_FAILURE_MESSAGE_LENGTH = 500;

/**
 * Version of the JSON report whose SHA-256 is `summary.reportSha256`.
 * 2: `outcomeSha256` is a sum over documents (was a chain in document order).
 */
export const REPORT_SCHEMA_VERSION = 2;

/**
 * The three bundled normalizers (CSAF, CycloneDX, OpenVEX), as the backfill command
 * registers them.
 *
 * @example
 * ```ts
 * new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers });
 * ```
 */
export const defaultVexNormalizers: readonly VexNormalizer[] = Object.freeze([
  csafVexNormalizer,
  cycloneDxVexNormalizer,
  openVexNormalizer,
]);
