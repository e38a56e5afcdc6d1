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
import { normalizeDocument, storableText, type NormalizedDocument } from './normalize.js';
import type { NormalizerThreads } from './normalizer-threads.js';
import { addOutcome, OUTCOME_SUM_ZERO } from './summary.js';

/** Where a document sits in the run, without its content (which can be let go once it is normalized). */
export type DocumentKey = Pick<RawDocument, 'digest' | 'cursor'>;

/** A document's fate within a batch. */
export type Outcome =
  | { readonly kind: 'backfilled'; readonly doc: DocumentKey; readonly format: string; readonly claims: readonly VexClaim[] }
  | { readonly kind: 'skipped'; readonly doc: DocumentKey }
  | { readonly kind: 'failed'; readonly doc: DocumentKey; readonly failure: BackfillFailure };

/**
 * A run's failed documents so far, as pages of them linked to the ones
 * before: a state takes the log of the state it extends and adds a page
 * only when it has failures, so no page copies the failures before it
 * (a run that fails often would copy a growing list on every page).
 */
export interface FailureLog {
  readonly before: FailureLog | null;
  readonly page: readonly BackfillFailure[];
}

/** `log` with `page` after it (`log` itself when `page` is empty). */
export function withFailures(log: FailureLog | null, page: readonly BackfillFailure[]): FailureLog | null {
  return page.length === 0 ? log : { before: log, page };
}

/** Every failure of `log`, oldest first. */
export function failuresOf(log: FailureLog | null): BackfillFailure[] {
  const pages: (readonly BackfillFailure[])[] = [];
  for (let at = log; at !== null; at = at.before) pages.push(at.page);
  return pages.reverse().flat();
}

/** Where a run stands: what its checkpoint records. */
export interface RunState {
  readonly counters: BackfillCounters;
  readonly cursor: DocumentCursor | null;
  readonly outcomeSha256: string;
  readonly failed: FailureLog | null;
}

/** A page's outcomes, cut short at the failing document under `stopOnError`. */
export interface PageOutcomes {
  readonly list: readonly Outcome[];
  readonly stoppedAt?: { readonly doc: DocumentKey; readonly error: BackfillError };
}

/** What deciding a page's outcomes depends on. */
export interface PageRules {
  readonly sink: StatementSink;
  readonly normalizers: readonly VexNormalizer[];
  readonly force: boolean;
  readonly stopOnError: boolean;
  /** Threads that normalize with the built-in normalizers, when the backfill was given them. */
  readonly threads: NormalizerThreads | undefined;
  /** Most bytes of claims one document may make (`maxClaimBytesPerDocument`). */
  readonly maxClaimBytesPerDocument: number;
}

/** A run's state from its checkpoint, or a fresh run's. */
export function stateOf(saved: StoredCheckpoint | null): RunState {
  return saved
    ? { counters: saved.counters, cursor: saved.cursor, outcomeSha256: saved.outcomeSha256, failed: withFailures(null, saved.failed) }
    : {
        counters: { evaluated: 0, backfilled: 0, claimsWritten: 0, skipped: 0, failures: 0 },
        cursor: null,
        outcomeSha256: OUTCOME_SUM_ZERO,
        failed: null,
      };
}

/** Documents normalized between yields to the event loop. */
const YIELD_EVERY = 25;
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Normalizes a page and decides each document's outcome; stops early under
 * `stopOnError`. A document is skipped when its digest has statements: the
 * sink has it, the batch still committing (`committing`, which the sink
 * cannot show yet) backfilled it, or an earlier document of the page did.
 * So a copy of a digest gets the same outcome on its first copy's page as on
 * a later page (a copy of a failed document fails again). Under `force`,
 * nothing is skipped: every copy is evaluated on its own, on any page.
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
    const fresh = docs.filter((doc) => !existing.has(doc.digest));
    const normalized = await normalizeReadable(rules, fresh);
    const backfilled = new Set<string>();
    const list: Outcome[] = [];
    let next = 0;
    for (const raw of docs) {
      // Outcomes outlive the page until their batch commits: they keep the document's key, not its content.
      const doc: DocumentKey = { digest: raw.digest, cursor: raw.cursor };
      const done = raw === fresh[next] ? (normalized[next++] as Result<NormalizedDocument, BackfillError>) : undefined;
      if (done === undefined || (!rules.force && backfilled.has(raw.digest))) {
        list.push({ kind: 'skipped', doc });
        continue;
      }
      if (done.isOk()) {
        backfilled.add(raw.digest);
        list.push({ kind: 'backfilled', doc, ...done.value });
      } else if (rules.stopOnError) return ok({ list, stoppedAt: { doc, error: done.error } });
      else list.push({ kind: 'failed', doc, failure: failureOf(doc, done.error) });
    }
    return ok({ list });
  });
}

/**
 * Each document's normalized claims, in order. A document its source could
 * not read fails here, before normalizing, so it fails alike with and
 * without normalizer threads.
 */
async function normalizeReadable(rules: PageRules, docs: readonly RawDocument[]): Promise<Result<NormalizedDocument, BackfillError>[]> {
  const readable = docs.filter((doc) => doc.unreadable === undefined);
  const done = rules.threads
    ? await rules.threads.normalize(readable, rules.maxClaimBytesPerDocument)
    : await normalizeHere(rules.normalizers, readable, rules.maxClaimBytesPerDocument);
  let next = 0;
  return docs.map((doc) =>
    doc.unreadable === undefined
      ? (done[next++] as Result<NormalizedDocument, BackfillError>)
      : err(new BackfillError('DOCUMENT_INVALID', `document ${doc.digest}: ${doc.unreadable}`, { context: { digest: doc.digest } })),
  );
}

/** Normalizes documents on this thread, letting the event loop in between. */
async function normalizeHere(
  normalizers: readonly VexNormalizer[],
  docs: readonly RawDocument[],
  maxClaimBytes: number,
): Promise<Result<NormalizedDocument, BackfillError>[]> {
  const results: Result<NormalizedDocument, BackfillError>[] = [];
  for (const [i, doc] of docs.entries()) {
    // Let the previous batch's commit make progress (each of its statements needs the event loop).
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
    results.push(normalizeDocument(normalizers, doc, maxClaimBytes));
  }
  return results;
}

/** A failed document as the checkpoint records it, its message cut to a bounded length and storable as text. */
export function failureOf(doc: DocumentKey, error: BackfillError): BackfillFailure {
  return { digest: doc.digest, code: error.code, message: storableText(error.message, MAX_FAILURE_MESSAGE_LENGTH) };
}

/** The run state after a batch's outcomes, without changing `state`. */
export function applyOutcomes(state: RunState, list: readonly Outcome[]): RunState {
  let { evaluated, backfilled, claimsWritten, skipped, failures } = state.counters;
  let chain = state.outcomeSha256;
  let cursor = state.cursor;
  const failed: BackfillFailure[] = [];
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
  return {
    counters: { evaluated, backfilled, claimsWritten, skipped, failures },
    cursor,
    outcomeSha256: chain,
    failed: withFailures(state.failed, failed),
  };
}
