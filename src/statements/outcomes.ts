/**
 * What a page of raw documents becomes: each document is skipped (it has
 * statements already), backfilled (normalized into claims) or failed, and
 * the run's counters, cursor and outcome sum move on by those outcomes.
 *
 * @module
 */
import { err, ok, safeTry, type Result, type ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { MAX_FAILURE_MESSAGE_LENGTH } from './defaults.js';
import type {
  BackfillCounters,
  BackfillFailure,
  DocumentCursor,
  RawDocument,
  StatementSink,
  StoredCheckpoint,
  VexClaim,
  VexNormalizer,
} from './ports.js';
import { addOutcome, OUTCOME_SUM_ZERO } from './summary.js';

/** A document's fate within a batch. */
export type Outcome =
  | { readonly kind: 'backfilled'; readonly doc: RawDocument; readonly format: string; readonly claims: readonly VexClaim[] }
  | { readonly kind: 'skipped'; readonly doc: RawDocument }
  | { readonly kind: 'failed'; readonly doc: RawDocument; readonly failure: BackfillFailure };

/** Where a run stands: what its checkpoint records. */
export interface RunState {
  readonly counters: BackfillCounters;
  readonly cursor: DocumentCursor | null;
  readonly outcomeSha256: string;
  readonly failed: readonly BackfillFailure[];
}

/** A page's outcomes, cut short at the failing document under `stopOnError`. */
export interface PageOutcomes {
  readonly list: readonly Outcome[];
  readonly stoppedAt?: { readonly doc: RawDocument; readonly error: BackfillError };
}

/** What deciding a page's outcomes depends on. */
export interface PageRules {
  readonly sink: StatementSink;
  readonly normalizers: readonly VexNormalizer[];
  readonly force: boolean;
  readonly stopOnError: boolean;
}

/** A run's state from its checkpoint, or a fresh run's. */
export function stateOf(saved: StoredCheckpoint | null): RunState {
  return saved
    ? { counters: saved.counters, cursor: saved.cursor, outcomeSha256: saved.outcomeSha256, failed: saved.failed }
    : {
        counters: { evaluated: 0, backfilled: 0, claimsWritten: 0, skipped: 0, failures: 0 },
        cursor: null,
        outcomeSha256: OUTCOME_SUM_ZERO,
        failed: [],
      };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Documents normalized between yields to the event loop. */
const YIELD_EVERY = 25;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Normalizes a page and decides each document's outcome; stops early under
 * `stopOnError`. Documents of the batch still committing (`committing`)
 * count as existing: the sink cannot see them yet.
 */
export function evaluatePage(
  rules: PageRules,
  docs: readonly RawDocument[],
  committing: ReadonlySet<string>,
): ResultAsync<PageOutcomes, BackfillError> {
  return safeTry(async function* () {
    const existing = rules.force
      ? new Set<string>()
      : new Set([...(yield* await rules.sink.existingDigests([...new Set(docs.map((d) => d.digest))])), ...committing]);
    const seen = new Set<string>();
    const list: Outcome[] = [];
    for (const [i, doc] of docs.entries()) {
      // Let the previous batch's commit make progress (each of its statements needs the event loop).
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
      if (existing.has(doc.digest) || seen.has(doc.digest)) {
        list.push({ kind: 'skipped', doc });
        continue;
      }
      seen.add(doc.digest);
      const normalized = normalizeDocument(rules.normalizers, doc);
      if (normalized.isOk()) list.push({ kind: 'backfilled', doc, ...normalized.value });
      else if (rules.stopOnError) return ok({ list, stoppedAt: { doc, error: normalized.error } });
      else list.push({ kind: 'failed', doc, failure: failureOf(doc, normalized.error) });
    }
    return ok({ list });
  });
}

/** The document's claims from the first normalizer that recognises it. */
function normalizeDocument(
  normalizers: readonly VexNormalizer[],
  doc: RawDocument,
): Result<{ format: string; claims: readonly VexClaim[] }, BackfillError> {
  return parseContent(doc).andThen((parsed) => {
    const normalizer = normalizers.find((n) => n.canNormalize(parsed));
    if (normalizer === undefined) {
      const registered = normalizers.map((n) => n.format).join(', ') || 'none';
      return err(
        new BackfillError(
          'NO_NORMALIZER',
          `document ${doc.digest}: no registered normalizer recognises its format (registered: ${registered}).`,
          {
            context: { digest: doc.digest },
          },
        ),
      );
    }
    let returned: Result<readonly VexClaim[], BackfillError>;
    try {
      returned = normalizer.normalize(parsed, { digest: doc.digest, retrievedAt: doc.retrievedAt });
    } catch (error) {
      // A custom normalizer that throws fails its document, not the run.
      const why = error instanceof Error ? error.message : String(error);
      returned = err(
        new BackfillError('DOCUMENT_INVALID', `document ${doc.digest}: the ${normalizer.format} normalizer threw: ${why}`, {
          cause: error,
          context: { digest: doc.digest },
        }),
      );
    }
    return returned.andThen((claims) => storableClaims(doc, normalizer.format, claims));
  });
}

/** Parses a document's content: text or UTF-8 bytes as JSON; objects pass through. */
function parseContent(doc: RawDocument): Result<unknown, BackfillError> {
  const { content } = doc;
  if (typeof content !== 'string' && !(content instanceof Uint8Array)) return ok(content);
  try {
    return ok(JSON.parse(typeof content === 'string' ? content : utf8.decode(content)) as unknown);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return err(
      new BackfillError('DOCUMENT_INVALID', `document ${doc.digest} is not valid UTF-8 JSON: ${why}`, {
        cause: error,
        context: { digest: doc.digest },
      }),
    );
  }
}

const STATUSES: ReadonlySet<string> = new Set(['not_affected', 'affected', 'fixed', 'under_investigation']);

/** Why a claim cannot be stored (custom normalizers, or text a database cannot hold), if it cannot. */
function claimProblem(c: VexClaim): string | undefined {
  if (!STATUSES.has(c.status)) return `has status ${JSON.stringify(c.status)}, not one of ${[...STATUSES].join(', ')}`;
  if (!c.vulnerabilityId || !c.productKey) return 'has an empty vulnerability id or product key';
  for (const value of [c.vulnerabilityId, c.productKey, c.justification, c.statement, c.issuedAt, c.format]) {
    if (value?.includes('\u0000')) return 'contains a NUL character (\\u0000), which PostgreSQL text cannot hold';
  }
  return undefined;
}

/** The claims with their format, deduplicated, or why the first one that cannot be stored cannot. */
function storableClaims(
  doc: RawDocument,
  format: string,
  claims: readonly VexClaim[],
): Result<{ format: string; claims: readonly VexClaim[] }, BackfillError> {
  for (const claim of claims) {
    const problem = claimProblem(claim);
    if (problem !== undefined) {
      return err(
        new BackfillError('DOCUMENT_INVALID', `document ${doc.digest}: a ${format} claim for ${claim.vulnerabilityId} ${problem}.`, {
          context: { digest: doc.digest },
        }),
      );
    }
  }
  return ok({ format, claims: dedupeClaims(claims) });
}

/** Keeps the first claim per `(vulnerabilityId, productKey)`: the sink's identity within a document. */
function dedupeClaims(claims: readonly VexClaim[]): VexClaim[] {
  const seen = new Set<string>();
  return claims.filter((c) => {
    const key = `${c.vulnerabilityId}\u0000${c.productKey}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A failed document as the checkpoint records it, its message cut to a bounded length. */
export function failureOf(doc: RawDocument, error: BackfillError): BackfillFailure {
  const message =
    error.message.length > MAX_FAILURE_MESSAGE_LENGTH ? `${error.message.slice(0, MAX_FAILURE_MESSAGE_LENGTH - 1)}…` : error.message;
  return { digest: doc.digest, code: error.code, message };
}

/** The run state after a batch's outcomes, without changing `state`. */
export function applyOutcomes(state: RunState, list: readonly Outcome[]): RunState {
  let { evaluated, backfilled, claimsWritten, skipped, failures } = state.counters;
  let chain = state.outcomeSha256;
  let cursor = state.cursor;
  const failed = [...state.failed];
  for (const o of list) {
    evaluated += 1;
    cursor = o.doc.cursor;
    if (o.kind === 'backfilled') {
      backfilled += 1;
      claimsWritten += o.claims.length;
      chain = addOutcome(chain, o.doc.digest, `backfilled ${o.claims.length}`);
    } else if (o.kind === 'skipped') {
      skipped += 1;
      chain = addOutcome(chain, o.doc.digest, 'skipped');
    } else {
      failures += 1;
      failed.push(o.failure);
      chain = addOutcome(chain, o.doc.digest, `failed ${o.failure.code}`);
    }
  }
  return { counters: { evaluated, backfilled, claimsWritten, skipped, failures }, cursor, outcomeSha256: chain, failed };
}
