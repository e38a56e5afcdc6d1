/**
 * One raw document's claims: its content parsed as JSON, the first
 * normalizer that recognises it, and its claims checked and deduplicated.
 * Runs on the backfill's thread or on a normalizer thread
 * ({@link NormalizerThreads}); both give the same outcome.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT, MAX_CLAIM_KEY_BYTES } from './defaults.js';
import { isoTimestamp, kindOf, quoted } from './normalizers/fields.js';
import type { RawDocument, VexClaim, VexNormalizer } from './ports.js';
import { LONE_SURROGATE } from '../_internals/lone-surrogate.js';

/** What normalizing needs of a raw document. */
export type NormalizableDocument = Pick<RawDocument, 'digest' | 'retrievedAt' | 'content'>;

/** A normalized document: its format and its storable claims. */
export interface NormalizedDocument {
  readonly format: string;
  readonly claims: readonly VexClaim[];
}

/** Keeps a byte-order mark, so that text and bytes lose it in one place ({@link parseContent}). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const BYTE_ORDER_MARK = 0xfeff;

/**
 * The document's claims from the first normalizer that recognises it; a
 * document whose claims hold more than `maxClaimBytes` bytes in all fails
 * (see {@link DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT}).
 */
export function normalizeDocument(
  normalizers: readonly VexNormalizer[],
  doc: NormalizableDocument,
  maxClaimBytes: number = DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
): Result<NormalizedDocument, BackfillError> {
  return parseContent(doc).andThen((parsed) => {
    const found = recognising(normalizers, parsed, doc);
    if (found.isErr()) return err(found.error);
    const normalizer = found.value;
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
    let returned: unknown;
    try {
      returned = normalizer.normalize(parsed, { digest: doc.digest, retrievedAt: doc.retrievedAt });
    } catch (error) {
      // A custom normalizer that throws fails its document, not the run.
      return err(threw(doc, `the ${normalizer.format} normalizer threw`, error));
    }
    // A custom normalizer is untyped at run time: what it returns is checked before it is used.
    if (!isResult(returned)) return err(invalid(doc, `the ${normalizer.format} normalizer returned ${kindOf(returned)}, not a Result.`));
    return returned.andThen((claims) =>
      Array.isArray(claims)
        ? storableClaims(doc, normalizer.format, claims, maxClaimBytes)
        : err(invalid(doc, `the ${normalizer.format} normalizer's claims are ${kindOf(claims)}, not an array.`)),
    );
  });
}

/** The first normalizer that recognises `parsed`; one whose `canNormalize` throws fails the document. */
function recognising(
  normalizers: readonly VexNormalizer[],
  parsed: unknown,
  doc: NormalizableDocument,
): Result<VexNormalizer | undefined, BackfillError> {
  for (const normalizer of normalizers) {
    try {
      if (normalizer.canNormalize(parsed)) return ok(normalizer);
    } catch (error) {
      return err(threw(doc, `the ${normalizer.format} normalizer's canNormalize threw`, error));
    }
  }
  return ok(undefined);
}

/** `DOCUMENT_INVALID` for `doc`, with `problem` after its digest (and what caused it, if anything did). */
const invalid = (doc: NormalizableDocument, problem: string, cause?: unknown): BackfillError =>
  new BackfillError('DOCUMENT_INVALID', `document ${doc.digest}: ${problem}`, {
    context: { digest: doc.digest },
    ...(cause === undefined ? {} : { cause }),
  });

/** `DOCUMENT_INVALID` for what a custom normalizer threw on `doc`. */
const threw = (doc: NormalizableDocument, what: string, error: unknown): BackfillError =>
  invalid(doc, `${what}: ${error instanceof Error ? error.message : String(error)}`, error);

/** Whether `value` is a Result (of this copy of neverthrow or another): it is used through `andThen`. */
const isResult = (value: unknown): value is Result<unknown, BackfillError> =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { andThen?: unknown }).andThen === 'function' &&
  typeof (value as { isOk?: unknown }).isOk === 'function';

/**
 * Parses a document's content: text or UTF-8 bytes as JSON; objects pass
 * through. One leading byte-order mark is ignored, as JSON parsers may
 * (RFC 8259, section 8.1), in text and bytes alike.
 */
function parseContent(doc: NormalizableDocument): Result<unknown, BackfillError> {
  const { content } = doc;
  if (typeof content !== 'string' && !(content instanceof Uint8Array)) return ok(content);
  try {
    const text = typeof content === 'string' ? content : utf8.decode(content);
    return ok(JSON.parse(text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text) as unknown);
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

/** The claim fields a sink stores as text. */
const TEXT_FIELDS = ['vulnerabilityId', 'productKey', 'justification', 'statement', 'issuedAt', 'documentDigest', 'format'] as const;

/** The text fields a claim may leave out. */
const OPTIONAL_FIELDS: ReadonlySet<string> = new Set(['justification', 'statement', 'issuedAt']);

/** The claim fields the statements indexes hold, together at most {@link MAX_CLAIM_KEY_BYTES}. */
const KEY_FIELDS = ['documentDigest', 'vulnerabilityId', 'productKey'] as const;

const UNSTORABLE = /\u0000|\p{Surrogate}/gu;

/**
 * `text` as PostgreSQL text can hold it and as it reads back: a NUL or a
 * lone surrogate becomes U+FFFD, and a cut at `max` UTF-16 units (ending in
 * `…`) never splits a surrogate pair. For messages recorded with a failure,
 * so the stored one is the one a run reports.
 */
export function storableText(text: string, max: number): string {
  const clean = text.replace(UNSTORABLE, '\uFFFD');
  if (clean.length <= max) return clean;
  const cut = clean.slice(0, max - 1);
  // A high surrogate last had its pair's other half cut off.
  return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}

/**
 * Why a claim cannot be stored (custom normalizers, or text or a time a
 * database cannot hold), if it cannot. Each problem here would otherwise fail
 * the sink's write of the whole batch, on every resume.
 */
function claimProblem(c: VexClaim, digest: string, utcIssuedAt: string | undefined): string | undefined {
  if (!STATUSES.has(c.status)) return `has status ${quoted(c.status)}, not one of ${[...STATUSES].join(', ')}`;
  if (!c.vulnerabilityId || !c.productKey) return 'has an empty vulnerability id or product key';
  for (const field of TEXT_FIELDS) {
    const value: unknown = c[field];
    if (value === undefined && OPTIONAL_FIELDS.has(field)) continue;
    // A number or a null would be stored as its text ("null"), or fail the sink's write of the batch.
    if (typeof value !== 'string') return `has ${kindOf(value)} in ${field}, not text`;
    if (value.includes('\u0000')) return `has a NUL character (\\u0000) in ${field}, which PostgreSQL text cannot hold`;
    // JSON may escape half of a surrogate pair; node-postgres would send it as U+FFFD, merging distinct keys.
    if (LONE_SURROGATE.test(value)) return `has a lone UTF-16 surrogate in ${field}, which PostgreSQL text cannot hold`;
  }
  // Stored under another digest, a claim would outlive its document's `force` and could collide with that document's own.
  if (c.documentDigest !== digest) return `has documentDigest ${quoted(c.documentDigest)}, not its document's digest`;
  if (c.issuedAt !== undefined && utcIssuedAt === undefined)
    return `has issuedAt ${JSON.stringify(c.issuedAt)}, not an ISO-8601 date-time in the years 0001 to 9999`;
  return keyProblem(c);
}

/** Why a claim's key is too long for the statements indexes ({@link MAX_CLAIM_KEY_BYTES}), if it is. */
function keyProblem(c: VexClaim): string | undefined {
  const sizes = KEY_FIELDS.map((field) => Buffer.byteLength(c[field], 'utf8'));
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total <= MAX_CLAIM_KEY_BYTES) return undefined;
  const parts = KEY_FIELDS.map((field, i) => `${field} ${sizes[i]}`).join(', ');
  return `has a key of ${total} bytes in UTF-8 (${parts}), over the ${MAX_CLAIM_KEY_BYTES} bytes a statements index entry holds; shorten its product key or vulnerability id`;
}

/**
 * Bytes (UTF-8) of a claim's text as its row stores it: every text field,
 * in full. Fields that are not text are left for {@link claimProblem}.
 */
function claimBytes(c: VexClaim): number {
  let bytes = 0;
  for (const field of ['status', ...TEXT_FIELDS] as const) {
    const value: unknown = c[field];
    if (typeof value === 'string') bytes += Buffer.byteLength(value, 'utf8');
  }
  return bytes;
}

/** `DOCUMENT_INVALID` for a document whose claims pass `max` bytes at claims[`i`]. */
const tooManyClaimBytes = (doc: NormalizableDocument, format: string, count: number, i: number, max: number): BackfillError =>
  new BackfillError(
    'DOCUMENT_INVALID',
    `document ${doc.digest}: its ${format} claims hold more than ${max} bytes of text (the cap per document, maxClaimBytesPerDocument or --max-claim-bytes) by claims[${i}] of ${count}; nothing of it was written. Raise the cap if the document is trusted.`,
    { context: { digest: doc.digest, maxClaimBytesPerDocument: max } },
  );

/**
 * The claims with their format, deduplicated, or why the first one that
 * cannot be stored cannot, or why they hold too many bytes: their bytes are
 * summed claim by claim, so the check reads at most `maxClaimBytes` and one
 * claim more of their text, however many claims share one long text.
 */
function storableClaims(
  doc: NormalizableDocument,
  format: string,
  claims: readonly VexClaim[],
  maxClaimBytes: number,
): Result<NormalizedDocument, BackfillError> {
  // A document's claims mostly share a few times: each is read once.
  const utcTimes = new Map<string, string | undefined>();
  const utcOf = (time: string | undefined): string | undefined => {
    if (time === undefined) return undefined;
    if (!utcTimes.has(time)) utcTimes.set(time, isoTimestamp(time));
    return utcTimes.get(time);
  };
  let bytes = 0;
  for (const [i, claim] of (claims as readonly unknown[]).entries()) {
    if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) {
      return err(invalid(doc, `its ${format} claims[${i}] is ${kindOf(claim)}, not an object.`));
    }
    const c = claim as VexClaim;
    // Before the claim's text is read for its problems: the sum stops the reading of a document that repeats a long text.
    bytes += claimBytes(c);
    if (bytes > maxClaimBytes) return err(tooManyClaimBytes(doc, format, claims.length, i, maxClaimBytes));
    const problem = claimProblem(c, doc.digest, typeof c.issuedAt === 'string' ? utcOf(c.issuedAt) : undefined);
    if (problem !== undefined) {
      // The id is quoted as JSON: the message is stored as text too, so it must not carry the character itself.
      // A long one is cut, so the problem still fits in the stored message. One that is not text names the claim by its place.
      const id: unknown = c.vulnerabilityId;
      const which = typeof id === 'string' ? `claim for ${quoted(id)}` : `claims[${i}]`;
      return err(invalid(doc, `its ${format} ${which} ${problem}.`));
    }
  }
  // `issuedAt` in the one form every sink reads alike (the built-in normalizers give it already): PostgreSQL
  // would read a custom normalizer's offset-less time in its session's time zone, MongoDB's driver in the host's.
  const stored = dedupeClaims(claims).map((c) => {
    const utc = utcOf(c.issuedAt);
    return utc === undefined || utc === c.issuedAt ? c : { ...c, issuedAt: utc };
  });
  return ok({ format, claims: stored });
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
