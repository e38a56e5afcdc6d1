/**
 * OpenVEX (0.2.0, and the earlier string forms of `vulnerability` and
 * `products`) to claims.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import type { BackfillError } from '../../errors.js';
import { detectVexFormat, twoFormats } from '../detect.js';
import type { ClaimStatus, NormalizeContext, VexClaim, VexNormalizer } from '../ports.js';
import {
  ClaimGroups,
  invalidDocument,
  isLater,
  isObject,
  keyTooLong,
  kindOf,
  MAX_SUBCOMPONENT_CLAIMS,
  optionalArray,
  text,
  timestampOf,
  type JsonObject,
  type Timestamp,
} from './fields.js';
import { productIdentity } from './purl.js';

const STATUSES: ReadonlySet<string> = new Set<ClaimStatus>(['not_affected', 'affected', 'fixed', 'under_investigation']);

/** A component's `identifiers.purl`, when it is an object that gives one. */
function ownPurl(value: unknown): string | undefined {
  return isObject(value) && isObject(value['identifiers']) ? text(value['identifiers']['purl']) : undefined;
}

/** The purl the document first gives a component `@id`, where, and the first other purl it gives it (if any), where. */
interface PurlOfId {
  readonly purl: string;
  readonly where: string;
  other?: { readonly purl: string; readonly where: string };
}

/**
 * The purl of each product or subcomponent `@id` the document gives one
 * for (the first it gives): a statement naming that component by its `@id`
 * alone is about the same component. A second purl that is no spelling of
 * the first (see {@link productIdentity}) is kept as `other`: a statement
 * naming that `@id` alone fails the document (see {@link idAloneProblem}).
 * Entries that are not objects or lists are left for {@link productKeys}
 * to refuse.
 */
function purlsOfIds(statements: readonly unknown[]): Map<string, PurlOfId> {
  const purls = new Map<string, PurlOfId>();
  const note = (component: unknown, where: () => string): void => {
    const id = isObject(component) ? text(component['@id']) : undefined;
    const purl = ownPurl(component);
    if (id === undefined || purl === undefined) return;
    const first = purls.get(id);
    if (first === undefined) purls.set(id, { purl, where: where() });
    else if (first.other === undefined && first.purl !== purl && productIdentity(first.purl) !== productIdentity(purl)) {
      first.other = { purl, where: where() };
    }
  };
  for (const [i, statement] of statements.entries()) {
    if (!isObject(statement)) continue;
    for (const [j, product] of (optionalArray(statement['products']) ?? []).entries()) {
      note(product, () => `statements[${i}].products[${j}]`);
      if (!isObject(product)) continue;
      for (const [k, sub] of (optionalArray(product['subcomponents']) ?? []).entries()) {
        note(sub, () => `statements[${i}].products[${j}].subcomponents[${k}]`);
      }
    }
    for (const [k, sub] of (optionalArray(statement['subcomponents']) ?? []).entries())
      note(sub, () => `statements[${i}].subcomponents[${k}]`);
  }
  return purls;
}

/**
 * Why a product or subcomponent named by its `@id` alone (no purl of its
 * own) cannot be keyed, if it cannot: the document gives that `@id` two
 * purls that name two packages, and which one it is about would depend on
 * the order of the statements, so its claim could be stored for the
 * package the document does not mean.
 */
function idAloneProblem(value: unknown, purls: ReadonlyMap<string, PurlOfId>): string | undefined {
  if (ownPurl(value) !== undefined) return undefined;
  const id = typeof value === 'string' ? text(value) : isObject(value) ? text(value['@id']) : undefined;
  const given = id === undefined ? undefined : purls.get(id);
  if (given?.other === undefined) return undefined;
  return (
    `names @id ${JSON.stringify(id)} without a purl, and the document gives that @id two purls: ` +
    `${JSON.stringify(given.purl)} (${given.where}) and ${JSON.stringify(given.other.purl)} (${given.other.where}); give the purl here, or one @id per component`
  );
}

/**
 * The key of an OpenVEX product or subcomponent (a string is an `@id`): its
 * purl (`identifiers.purl`, or the one the document gives for its `@id`),
 * else its `@id`, else a CPE. Processors match a product by any of its
 * identifiers, so the statements that name one product by its `@id` in one
 * place and by its purl in another are about one product, and one key lets
 * the later override the earlier.
 */
function componentKey(value: unknown, purls: ReadonlyMap<string, PurlOfId>): string | undefined {
  const id = typeof value === 'string' ? text(value) : isObject(value) ? text(value['@id']) : undefined;
  const known = ownPurl(value) ?? (id === undefined ? undefined : purls.get(id)?.purl) ?? id;
  if (known !== undefined || !isObject(value)) return known;
  const ids = isObject(value['identifiers']) ? value['identifiers'] : {};
  return text(ids['cpe23']) ?? text(ids['cpe22']);
}

/** The pre-0.2 `product::subcomponent` claims counted so far in a document (see {@link MAX_SUBCOMPONENT_CLAIMS}). */
interface PairCount {
  pairs: number;
}

/**
 * Product keys of one statement: each product, or `product::subcomponent`
 * for each subcomponent: the product's own (0.2.0), else the statement's
 * (the pre-0.2 form lists them beside the products, for each of them).
 * Fails the document when the statement's products × statement
 * subcomponents would bring its count past {@link MAX_SUBCOMPONENT_CLAIMS}.
 */
function productKeys(
  statement: JsonObject,
  vulnerabilityId: string,
  where: string,
  digest: string,
  purls: ReadonlyMap<string, PurlOfId>,
  counted: PairCount,
): Result<ProductKey[], BackfillError> {
  const products = optionalArray(statement['products']);
  if (products === undefined || products.length === 0) {
    return err(invalidDocument('OpenVEX', digest, `${where}.products`, 'must list at least one product'));
  }
  const shared = optionalArray(statement['subcomponents']);
  if (shared === undefined) return err(invalidDocument('OpenVEX', digest, `${where}.subcomponents`, 'must be an array'));
  // Counted before any key is built: at most every product takes the statement's subcomponents.
  if (shared.length > 0) {
    const withoutOwn = products.filter((p) => !isObject(p) || (optionalArray(p['subcomponents'])?.length ?? 0) === 0).length;
    counted.pairs += withoutOwn * shared.length;
    if (counted.pairs > MAX_SUBCOMPONENT_CLAIMS) {
      return err(
        invalidDocument(
          'OpenVEX',
          digest,
          `${where}.subcomponents`,
          `make more than ${MAX_SUBCOMPONENT_CLAIMS} product::subcomponent claims in the document (${withoutOwn} products × ${shared.length} subcomponents here)`,
        ),
      );
    }
  }
  const keys: ProductKey[] = [];
  for (const [i, product] of products.entries()) {
    const key = componentKey(product, purls);
    if (key === undefined) return err(invalidDocument('OpenVEX', digest, `${where}.products[${i}]`, 'has no @id or identifiers'));
    const alone = idAloneProblem(product, purls);
    if (alone !== undefined) return err(invalidDocument('OpenVEX', digest, `${where}.products[${i}]`, alone));
    const tooLong = keyTooLong(vulnerabilityId, key);
    if (tooLong !== undefined) return err(invalidDocument('OpenVEX', digest, `${where}.products[${i}]`, tooLong));
    const own = isObject(product) ? optionalArray(product['subcomponents']) : [];
    if (own === undefined) return err(invalidDocument('OpenVEX', digest, `${where}.products[${i}].subcomponents`, 'must be an array'));
    const [subs, subsAt] = own.length > 0 ? [own, `${where}.products[${i}].subcomponents`] : [shared, `${where}.subcomponents`];
    if (subs.length === 0) {
      keys.push({ key, identity: productIdentity(key) });
      continue;
    }
    for (const [j, sub] of subs.entries()) {
      const subKey = componentKey(sub, purls);
      if (subKey === undefined) return err(invalidDocument('OpenVEX', digest, `${subsAt}[${j}]`, 'has no @id or identifiers'));
      const subAlone = idAloneProblem(sub, purls);
      if (subAlone !== undefined) return err(invalidDocument('OpenVEX', digest, `${subsAt}[${j}]`, subAlone));
      const joinedTooLong = keyTooLong(vulnerabilityId, `${key}::${subKey}`);
      if (joinedTooLong !== undefined) return err(invalidDocument('OpenVEX', digest, `${subsAt}[${j}]`, joinedTooLong));
      keys.push({ key: `${key}::${subKey}`, identity: `${productIdentity(key)}::${productIdentity(subKey)}` });
    }
  }
  return ok(keys);
}

/**
 * A product key and the identity that compares it: a `product::subcomponent`
 * key's is joined from its two parts', as the key alone cannot tell the
 * join's `::` from one within a CPE 2.2 URI (`cpe:/o:x:y:8::gw-1`).
 */
interface ProductKey {
  readonly key: string;
  readonly identity: string;
}

/** A claim with the identity of its product and the time that orders it among the document's statements. */
interface TimedClaim {
  readonly claim: VexClaim;
  readonly identity: string;
  readonly at: Timestamp | undefined;
}

/** One statement's claims: one per product key. */
function statementClaims(
  statement: unknown,
  where: string,
  digest: string,
  documentTime: Timestamp | undefined,
  purls: ReadonlyMap<string, PurlOfId>,
  counted: PairCount,
): Result<TimedClaim[], BackfillError> {
  if (!isObject(statement)) return err(invalidDocument('OpenVEX', digest, where, 'is not an object'));
  const vuln = statement['vulnerability'];
  const vulnerabilityId = typeof vuln === 'string' ? text(vuln) : isObject(vuln) ? (text(vuln['name']) ?? text(vuln['@id'])) : undefined;
  if (vulnerabilityId === undefined) return err(invalidDocument('OpenVEX', digest, `${where}.vulnerability.name`, 'is missing'));
  // Not trimmed: a status is one of four exact words, and `" affected "` is none of them.
  const status = typeof statement['status'] === 'string' ? statement['status'] : undefined;
  if (status === undefined || !STATUSES.has(status)) {
    return err(invalidDocument('OpenVEX', digest, `${where}.status`, `must be one of ${[...STATUSES].join(', ')}`));
  }
  const justification = text(statement['justification']);
  const note = text(statement['impact_statement']) ?? text(statement['action_statement']) ?? text(statement['status_notes']);
  const own = timeOf(statement['timestamp'], `${where}.timestamp`, digest);
  if (own.isErr()) return err(own.error);
  const at = own.value ?? documentTime;
  return productKeys(statement, vulnerabilityId, where, digest, purls, counted).map((keys) =>
    keys.map(
      ({ key: productKey, identity }): TimedClaim => ({
        identity,
        claim: {
          vulnerabilityId,
          productKey,
          status: status as ClaimStatus,
          ...(justification === undefined ? {} : { justification }),
          ...(note === undefined ? {} : { statement: note }),
          ...(at === undefined ? {} : { issuedAt: at.iso }),
          documentDigest: digest,
          format: 'openvex',
        },
        at,
      }),
    ),
  );
}

/**
 * The time a document or statement gives (`undefined` when it gives none:
 * absent, null or blank), or the document's error when it gives one that
 * cannot be read: statements are ordered by time, so reading it as absent
 * (the statement taking the document's time, or none) would change which
 * statement is a product's claim, silently.
 */
function timeOf(value: unknown, where: string, digest: string): Result<Timestamp | undefined, BackfillError> {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return ok(undefined);
  const read = timestampOf(value);
  if (read !== undefined) return ok(read);
  const given = typeof value === 'string' ? JSON.stringify(value) : kindOf(value);
  return err(
    invalidDocument(
      'OpenVEX',
      digest,
      where,
      `is ${given}, not an RFC 3339 date-time in the years 0001 to 9999: OpenVEX orders statements by their times, so which one is a product's claim would be a guess; correct it, or leave it out`,
    ),
  );
}

function normalizeOpenVex(document: unknown, context: NormalizeContext): Result<readonly VexClaim[], BackfillError> {
  const { digest } = context;
  if (!isObject(document)) return err(invalidDocument('OpenVEX', digest, 'document', 'is not a JSON object'));
  const mixed = twoFormats('openvex', document, digest);
  if (mixed !== undefined) return err(mixed);
  const statements = document['statements'];
  if (!Array.isArray(statements)) return err(invalidDocument('OpenVEX', digest, 'statements', 'must be an array'));
  const time = timeOf(document['timestamp'], 'timestamp', digest);
  if (time.isErr()) return err(time.error);
  const documentTime = time.value;
  const purls = purlsOfIds(statements);
  const counted: PairCount = { pairs: 0 };
  // The first failing statement (in document order) is the document's error; none after it is read.
  const perStatement: TimedClaim[][] = [];
  for (const [i, statement] of statements.entries()) {
    const claims = statementClaims(statement, `statements[${i}]`, digest, documentTime, purls, counted);
    if (claims.isErr()) return err(claims.error);
    perStatement.push(claims.value);
  }
  return ok(latestPerProduct(perStatement.flat()));
}

/**
 * One claim per vulnerability and product: OpenVEX statements are a
 * sequence in which a later one overrides an earlier one about the same
 * product, whichever spelling of its package URL each gives (see
 * {@link productIdentity}), and of its CVE id (`cve-2024-1234` is
 * `CVE-2024-1234`). Later means a later time (to the finest fraction the document
 * gives, not only the millisecond `issuedAt` keeps), else later in the
 * document. The claim keeps the place of the product's first statement.
 */
function latestPerProduct(timed: readonly TimedClaim[]): VexClaim[] {
  const latest = new Map<string, TimedClaim>();
  const groups = new ClaimGroups();
  for (const next of timed) {
    const key = groups.of(next.claim.vulnerabilityId, next.claim.productKey, next.identity);
    const earlier = latest.get(key);
    const overridden = earlier?.at !== undefined && next.at !== undefined && isLater(earlier.at, next.at);
    if (!overridden) latest.set(key, next);
  }
  return [...latest.values()].map((t) => t.claim);
}

/**
 * Normalizes OpenVEX documents: one claim per statement and product, keyed
 * by its purl (`identifiers.purl`, or the purl the document gives for its
 * `@id`: a product named by its `@id` alone fails the document when the
 * document gives that `@id` two purls of two packages), else its `@id`,
 * else its `identifiers` CPE; and one per
 * subcomponent as `product::subcomponent` (a product's own, or in the
 * pre-0.2 form the statement's `subcomponents`, for each of its products). Of several statements about
 * the same vulnerability and product, the latest (by timestamp, then by
 * place in the document) is the product's claim, as OpenVEX has later
 * statements override earlier ones. `impact_statement`,
 * `action_statement` or `status_notes` becomes the claim's statement; the
 * statement's timestamp (else the document's) its `issuedAt`; a statement
 * or document timestamp that cannot be read, or a `status` that is not
 * exactly one of the four (`" affected "`), fails the document. A document
 * whose pre-0.2 statements make more than {@link MAX_SUBCOMPONENT_CLAIMS}
 * `product::subcomponent` claims in all fails.
 *
 * @example
 * ```ts
 * const claims = openVexNormalizer.normalize(JSON.parse(text), { digest, retrievedAt });
 * ```
 */
export const openVexNormalizer: VexNormalizer = Object.freeze({
  format: 'openvex',
  canNormalize: (document: unknown) => detectVexFormat(document) === 'openvex',
  normalize: normalizeOpenVex,
});
