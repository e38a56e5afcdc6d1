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

export { MAX_SUBCOMPONENT_CLAIMS } from './normalizers/fields.js';

/** Raw documents pulled per batch (the backfill command's `--batch-size`, default `100`). */
export const DEFAULT_BATCH_SIZE = 100;

/** Largest accepted `batchSize`; a batch is one transaction and one page in memory. */
export const MAX_BATCH_SIZE = 10_000;

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

/**
 * Most bytes (UTF-8) a claim's key, its `documentDigest`, `vulnerabilityId`
 * and `productKey` together, may have; a longer one fails its document with
 * `DOCUMENT_INVALID`. The statements table indexes the key (unique, and
 * `(vulnerability_id, product_key)` for lookups) in btrees, whose entries
 * PostgreSQL caps at 2,704 bytes (a third of an 8 kB page) with up to 33
 * bytes of tuple header, length words and alignment: past that, the insert
 * fails, and with it the whole batch, on every resume. 2,600 leaves room and
 * holds any real purl or CPE. The same limit on every sink and thread keeps
 * a document's outcome the same wherever it is stored (MongoDB 4.2 and later
 * have no index key limit; 4.0 had 1,024 bytes).
 */
export const MAX_CLAIM_KEY_BYTES = 2_600;

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
