/**
 * Small field readers shared by the normalizers (internal, not exported from
 * the package).
 */
import { BackfillError } from '../../errors.js';
import { readInstant, type Instant } from '../../_internals/instant.js';
import type { VexClaim } from '../ports.js';
import { productIdentity } from './purl.js';

/** A plain JSON object. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** True for a non-null, non-array object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value when it is a non-empty string (after trimming), else `undefined`. */
export function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 ? trimmed : undefined;
}

/** How a message names a value that has the wrong type: `null`, `an array`, `a number`… */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value === undefined) return 'undefined';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Longest text (a vulnerability id) quoted whole in a message (UTF-16 units). */
const MAX_QUOTED = 80;

/** A text quoted as JSON, cut past {@link MAX_QUOTED} units; any other value named by its kind. */
export function quoted(value: unknown): string {
  if (typeof value !== 'string') return kindOf(value);
  return JSON.stringify(value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED - 1)}…` : value);
}

/** The value as an array, `[]` when absent; `undefined` when present but not an array. */
export function optionalArray(value: unknown): readonly unknown[] | undefined {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : undefined;
}

/** A `DOCUMENT_INVALID` error that names the document and the field. */
export function invalidDocument(format: string, digest: string, where: string, problem: string): BackfillError {
  return new BackfillError('DOCUMENT_INVALID', `${format} document ${digest}: ${where} ${problem}`, {
    context: { digest, field: where, format },
  });
}

/**
 * A claim's `issuedAt` from a document's timestamp: the instant as
 * `YYYY-MM-DDTHH:MM:SS.sssZ` (a finer fraction is cut to the millisecond), or
 * `undefined` when the value is not an RFC 3339 / ISO-8601 date-time in the
 * years 0001 to 9999, so the normalizer falls back to the next time the
 * document gives. Every normalizer, and `normalizeDocument` for custom
 * ones, reads times here, so a time means the same on every thread and host.
 *
 * OpenVEX (RFC 3339), CSAF (JSON Schema `date-time`) and CycloneDX
 * (`date-time`, `xs:dateTime`) all ask for an offset. One without is read as
 * UTC, not dropped: tools writing one (a naive UTC clock printed in ISO form)
 * mean UTC, and it is what such a time meant before on hosts in UTC, which
 * servers mostly are; the CLI reads `--retrieved-since` the same way. A date
 * alone (`2024-01-01`) is its midnight UTC, as it always was. A leap second
 * (`23:59:60`) is the second after it, as PostgreSQL reads it.
 */
export function isoTimestamp(value: unknown): string | undefined {
  return timestampOf(value)?.iso;
}

/** A document's time as {@link isoTimestamp} reads it, with the precision to order it: {@link isLater}. */
export interface Timestamp {
  readonly iso: string;
  readonly instant: Instant;
}

/** {@link isoTimestamp}'s reading of `value`, keeping what orders two times in one millisecond. */
export function timestampOf(value: unknown): Timestamp | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  // A leap second (RFC 3339 allows `:60`) is read as the second after it, as PostgreSQL reads it.
  const leap = LEAP_SECOND.exec(raw);
  const read = readInstant(leap === null ? raw : `${leap[1]}:59${leap[2]}`);
  if (read.isErr()) return undefined;
  const instant = leap === null ? read.value : { ...read.value, epochMs: read.value.epochMs + 1000 };
  if (instant.epochMs > LAST_STORABLE_MS) return undefined;
  return { iso: new Date(instant.epochMs).toISOString(), instant };
}

/** The last instant PostgreSQL stores (a leap second read as the next second may pass it). */
const LAST_STORABLE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** A date-time whose seconds are 60: the part before them, and the fraction and offset after. */
const LEAP_SECOND = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}):60((?:[.,]\d+)?(?:[Zz]|[+-]\d{2}:?\d{2})?)$/;

/** Whether `a` is a later instant than `b`, finer than the millisecond included (`.0009` after `.0001`). */
export function isLater(a: Timestamp, b: Timestamp): boolean {
  if (a.instant.epochMs !== b.instant.epochMs) return a.instant.epochMs > b.instant.epochMs;
  const width = Math.max(a.instant.beyondMs.length, b.instant.beyondMs.length);
  return a.instant.beyondMs.padEnd(width, '0') > b.instant.beyondMs.padEnd(width, '0');
}

/**
 * Most `product::subcomponent` claims the statements of one OpenVEX
 * document may make in the pre-0.2 form, where a statement lists its
 * subcomponents beside its products and each is claimed within each
 * product (products × subcomponents claims). A document past it fails with
 * `DOCUMENT_INVALID` before any claim is built: a few hundred kilobytes of
 * such lists would otherwise ask for millions of claims, more memory than
 * the process has, on every resume. A 0.2.0 product's own subcomponents
 * are listed one by one and do not count.
 */
export const MAX_SUBCOMPONENT_CLAIMS = 100_000;

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

/**
 * Why a claim about `vulnerabilityId` and `productKey` could not be stored,
 * told from their lengths alone, before any work on the key: a UTF-16 unit
 * is at least one byte of UTF-8, so two that are together longer than
 * {@link MAX_CLAIM_KEY_BYTES} units make a key longer than a statements
 * index entry holds, whatever the digest. A normalizer refuses such a claim
 * as it meets it: a long key given in every claim of a document (one purl
 * of a megabyte, named by thousands of vulnerabilities) would otherwise be
 * read, compared and joined once per claim, minutes of work for a document
 * that fails anyway.
 */
export function keyTooLong(vulnerabilityId: string, productKey: string): string | undefined {
  const length = vulnerabilityId.length + productKey.length;
  if (length <= MAX_CLAIM_KEY_BYTES) return undefined;
  return (
    `makes a claim for ${quoted(vulnerabilityId)} whose key would have at least ${length} bytes in UTF-8 ` +
    `(vulnerabilityId ${vulnerabilityId.length}, productKey ${productKey.length} characters), over the ${MAX_CLAIM_KEY_BYTES} bytes ` +
    'a statements index entry holds; shorten its product key or vulnerability id'
  );
}

/** How deep nested lists (CSAF branches, CycloneDX components) may go; only a parsed object that loops reaches it. */
export const MAX_NESTING = 100_000;

/** Where a node is: the list each level's node is in (the key it hangs under; `''` for the roots) and its index there. */
export type Place = readonly (readonly [list: string, index: number])[];

/**
 * Visits each object of the list `roots` and, depth first in document
 * order, the objects of each one's lists `children` (in that order), without
 * recursion: how deep a document may nest may not depend on the stack of the
 * thread that normalizes it. `place()` gives the node's {@link Place} (for a
 * message naming it; built only when asked). False, having stopped, when
 * lists nest deeper than {@link MAX_NESTING}.
 */
export function walkNested(roots: unknown, children: readonly string[], visit: (node: JsonObject, place: () => Place) => void): boolean {
  // Per level: the array being walked, the key it hangs under, the next index in it, and which of
  // `children` of the node just visited there is entered next (no iterator objects: this runs for every node).
  const lists: (readonly unknown[])[] = [];
  const keys: string[] = [];
  const next: number[] = [];
  const child: number[] = [];
  const place = (): Place => next.map((n, level) => [keys[level] as string, n - 1] as const);
  const enter = (list: unknown, key: string): boolean => {
    const items = optionalArray(list);
    if (items === undefined || items.length === 0) return true;
    if (lists.length === MAX_NESTING) return false;
    lists.push(items);
    keys.push(key);
    next.push(0);
    child.push(children.length);
    return true;
  };
  enter(roots, '');
  while (lists.length > 0) {
    const top = lists.length - 1;
    const items = lists[top] as readonly unknown[];
    const at = next[top] as number;
    const c = child[top] as number;
    if (c < children.length) {
      // The node at `at - 1` has this list still to walk.
      child[top] = c + 1;
      const key = children[c] as string;
      if (!enter((items[at - 1] as JsonObject)[key], key)) return false;
      continue;
    }
    if (at === items.length) {
      lists.pop();
      keys.pop();
      next.pop();
      child.pop();
      continue;
    }
    next[top] = at + 1;
    const node = items[at];
    if (!isObject(node)) continue;
    visit(node, place);
    child[top] = 0;
  }
  return true;
}

/** A CVE id in any case: the CVE program writes `CVE-YYYY-NNNN` in upper case, and `cve-2024-1234` names the same CVE. */
const CVE_ANY_CASE = /^cve-[0-9]{4}-[0-9]{4,}$/i;

/**
 * The form of a vulnerability id that compares it: a CVE id in upper case
 * (see {@link CVE_ANY_CASE}), any other id as written (a GHSA or a vendor's
 * own id may tell ids apart by case).
 */
export const vulnerabilityIdentity = (id: string): string => (CVE_ANY_CASE.test(id) ? id.toUpperCase() : id);

/**
 * What a document's claims are grouped by: the vulnerability (see
 * {@link vulnerabilityIdentity}) and the identity of the product. A joined key (`platform::component`) given
 * before for another identity keeps that one: two products whose joined
 * keys read alike (a CPE 2.2 URI's own `::`) would be stored under one
 * key, which holds one claim, so they are compared as one rather than one
 * being dropped as it is stored.
 */
export class ClaimGroups {
  readonly #identityOfJoin = new Map<string, string>();

  /** The group of a claim about `vulnerabilityId` and the product `productKey`, whose identity is `identity`. */
  of(vulnerabilityId: string, productKey: string, identity: string): string {
    const vulnerability = vulnerabilityIdentity(vulnerabilityId);
    if (!productKey.includes('::')) return `${vulnerability}\u0000${identity}`;
    const stored = `${vulnerabilityId}\u0000${productKey}`;
    const first = this.#identityOfJoin.get(stored);
    if (first === undefined) this.#identityOfJoin.set(stored, identity);
    return `${vulnerability}\u0000${first ?? identity}`;
  }
}

/** The claim fields that say what a claim states: two claims about one key that differ in any of them contradict each other. */
const STATED_FIELDS = ['status', 'justification', 'statement'] as const;

/**
 * A document's claims in order, each remembered with the place that gave it,
 * so that two places saying different things about one vulnerability and
 * product key are caught instead of one of them being kept silently; two
 * spellings of one package URL or CPE (see {@link productIdentity}) are
 * one product key, and two of one CVE id one vulnerability
 * ({@link vulnerabilityIdentity}). The same claim given twice (a repeated ref, a product listed
 * twice, under another spelling of its purl or CPE) is kept once, as first spelt;
 * two that differ only in their time (two sources' entries for one
 * vulnerability, published on different days) are one claim with the
 * later time, whatever their order.
 */
export class ClaimsByKey {
  readonly claims: VexClaim[] = [];
  readonly #first = new Map<string, { readonly at: number; readonly where: string }>();
  readonly #groups = new ClaimGroups();

  /**
   * Adds `claim`, given at `where`, about the product `identity` (by
   * default its key's; a caller that joined the key from two gives theirs,
   * which the key alone may not tell apart). Returns why it contradicts an
   * earlier claim about the same product (the first field that differs, and
   * where the earlier one was given), or undefined.
   */
  add(claim: VexClaim, where: string, identity = productIdentity(claim.productKey)): string | undefined {
    const key = this.#groups.of(claim.vulnerabilityId, claim.productKey, identity);
    const earlier = this.#first.get(key);
    if (earlier === undefined) {
      this.#first.set(key, { at: this.claims.length, where });
      this.claims.push(claim);
      return undefined;
    }
    const kept = this.claims[earlier.at] as VexClaim;
    const field = STATED_FIELDS.find((f) => kept[f] !== claim[f]);
    if (field === undefined) {
      // Times are `YYYY-MM-DDTHH:MM:SS.sssZ`: as text, the later sorts last.
      if (claim.issuedAt !== undefined && (kept.issuedAt === undefined || claim.issuedAt > kept.issuedAt)) {
        this.claims[earlier.at] = { ...kept, issuedAt: claim.issuedAt };
      }
      return undefined;
    }
    const said = (value: string | undefined): string => (value === undefined ? 'none' : JSON.stringify(value));
    const same = /^cpe:/i.test(kept.productKey) ? 'CPE' : 'package URL';
    // How the earlier claim spells what this one spells otherwise: the CVE id, the product key, or both.
    const spellings = [
      ...(kept.vulnerabilityId === claim.vulnerabilityId ? [] : [`vulnerability ${JSON.stringify(kept.vulnerabilityId)}, the same CVE`]),
      ...(kept.productKey === claim.productKey ? [] : [`${JSON.stringify(kept.productKey)}, the same ${same}`]),
    ];
    const spelt = spellings.length === 0 ? '' : ` for ${spellings.join(' and ')}`;
    return (
      `gives ${field} ${said(claim[field])} for vulnerability ${JSON.stringify(claim.vulnerabilityId)} and product ` +
      `${JSON.stringify(claim.productKey)}, which ${earlier.where} gives ${said(kept[field])}${spelt}`
    );
  }
}
