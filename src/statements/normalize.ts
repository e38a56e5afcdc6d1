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
import type { RawDocument, VexClaim, VexNormalizer } from './ports.js';

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

/** The document's claims from the first normalizer that recognises it. */
export function normalizeDocument(
  normalizers: readonly VexNormalizer[],
  doc: NormalizableDocument,
): Result<NormalizedDocument, BackfillError> {
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

/** A surrogate not in a pair (`String.prototype.isWellFormed` is ES2024, past this package's lib). */
const LONE_SURROGATE = /\p{Surrogate}/u;
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

/** Why a claim cannot be stored (custom normalizers, or text a database cannot hold), if it cannot. */
function claimProblem(c: VexClaim): string | undefined {
  if (!STATUSES.has(c.status)) return `has status ${JSON.stringify(c.status)}, not one of ${[...STATUSES].join(', ')}`;
  if (!c.vulnerabilityId || !c.productKey) return 'has an empty vulnerability id or product key';
  for (const field of TEXT_FIELDS) {
    const value = c[field];
    if (value?.includes('\u0000')) return `has a NUL character (\\u0000) in ${field}, which PostgreSQL text cannot hold`;
    // JSON may escape half of a surrogate pair; node-postgres would send it as U+FFFD, merging distinct keys.
    if (value !== undefined && LONE_SURROGATE.test(value))
      return `has a lone UTF-16 surrogate in ${field}, which PostgreSQL text cannot hold`;
  }
  return undefined;
}

/** The claims with their format, deduplicated, or why the first one that cannot be stored cannot. */
function storableClaims(doc: NormalizableDocument, format: string, claims: readonly VexClaim[]): Result<NormalizedDocument, BackfillError> {
  for (const claim of claims) {
    const problem = claimProblem(claim);
    if (problem !== undefined) {
      // The id is quoted as JSON: the message is stored as text too, so it must not carry the character itself.
      const claimId = JSON.stringify(claim.vulnerabilityId);
      return err(
        new BackfillError('DOCUMENT_INVALID', `document ${doc.digest}: a ${format} claim for ${claimId} ${problem}.`, {
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
