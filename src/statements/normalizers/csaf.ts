/**
 * CSAF 2.0 (VEX profile, and any CSAF document with `product_status`) to
 * claims.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import type { BackfillError } from '../../errors.js';
import { detectVexFormat } from '../detect.js';
import type { ClaimStatus, NormalizeContext, VexClaim, VexNormalizer } from '../ports.js';
import { productIdentity } from './purl.js';
import {
  ClaimsByKey,
  invalidDocument,
  isObject,
  isoTimestamp,
  kindOf,
  MAX_NESTING,
  optionalArray,
  text,
  walkNested,
  type JsonObject,
} from './fields.js';

/** CSAF `product_status` lists and the claim status each maps to (`recommended` is not a status). */
const STATUS_LISTS: ReadonlyArray<readonly [string, ClaimStatus]> = [
  ['known_not_affected', 'not_affected'],
  ['known_affected', 'affected'],
  ['first_affected', 'affected'],
  ['last_affected', 'affected'],
  ['fixed', 'fixed'],
  ['first_fixed', 'fixed'],
  ['under_investigation', 'under_investigation'],
];

/** A purl (CSAF 2.0 `purl`, CSAF 2.1 `purls[0]`) or else a CPE from a product identification helper. */
function helperKey(product: JsonObject): string | undefined {
  const helper = product['product_identification_helper'];
  if (!isObject(helper)) return undefined;
  const purls = Array.isArray(helper['purls']) ? helper['purls'] : [];
  return text(helper['purl']) ?? text(purls[0]) ?? text(helper['cpe']);
}

interface Relationship {
  readonly category: string;
  readonly component: string;
  readonly platform: string;
}

/**
 * Resolves CSAF product ids to product keys through `product_tree`:
 * `branches` (any depth), `full_product_names` and `relationships`. A product
 * with a purl or CPE is keyed by it; a relationship product without one is
 * keyed `platform::component` from the keys of the two products it joins;
 * anything else by its `product_id`.
 */
class ProductTree {
  readonly #direct = new Map<string, string>();
  readonly #relationships = new Map<string, Relationship>();
  readonly #groups = new Map<string, readonly string[]>();
  /** Groups' members as sets, built the first time a small lookup needs one. */
  readonly #memberSets = new Map<string, ReadonlySet<string>>();
  readonly #resolved = new Map<string, string>();
  /** Resolved relationships' identities, built from their two products' (see {@link ProductTree.identity}). */
  readonly #identities = new Map<string, string>();
  /** The first product id the tree defines twice with different identities (CSAF 2.0 mandatory test 6.1.2), if any, each as a message names it. */
  #redefined: { readonly id: string; readonly first: string; readonly second: string } | undefined;

  /** The tree's products, or `undefined` when its branches nest deeper than {@link MAX_NESTING} levels (a parsed object that loops). */
  static of(tree: JsonObject): ProductTree | undefined {
    const products = new ProductTree();
    // Branches in document order, however deep the thread's stack.
    if (!walkNested(tree['branches'], ['branches'], (branch) => products.#addProduct(branch['product']))) return undefined;
    products.#addRest(tree);
    return products;
  }

  private constructor() {}

  #addRest(tree: JsonObject): void {
    for (const product of optionalArray(tree['full_product_names']) ?? []) this.#addProduct(product);
    for (const rel of optionalArray(tree['relationships']) ?? []) {
      if (!isObject(rel) || !isObject(rel['full_product_name'])) continue;
      const full = rel['full_product_name'];
      const id = text(full['product_id']);
      const component = text(rel['product_reference']);
      const platform = text(rel['relates_to_product_reference']);
      if (id === undefined) continue;
      const own = helperKey(full);
      if (own !== undefined) this.#define(id, own);
      else if (component !== undefined && platform !== undefined) {
        this.#relate(id, { category: text(rel['category']) ?? 'default_component_of', component, platform });
      } else this.#define(id, id);
    }
    for (const group of optionalArray(tree['product_groups']) ?? []) {
      if (!isObject(group)) continue;
      const id = text(group['group_id']);
      const members = (optionalArray(group['product_ids']) ?? []).map(text).filter((x): x is string => x !== undefined);
      if (id !== undefined) this.#groups.set(id, members);
    }
  }

  #addProduct(product: unknown): void {
    if (!isObject(product)) return;
    const id = text(product['product_id']);
    if (id !== undefined) this.#define(id, helperKey(product) ?? id);
  }

  /** Keys `id`; a second definition with another key, or by a relationship, is recorded, not taken (see {@link ProductTree.redefined}). */
  #define(id: string, key: string): void {
    const relationship = this.#relationships.get(id);
    if (relationship !== undefined) {
      this.#redefined ??= { id, first: joined(relationship), second: JSON.stringify(key) };
      return;
    }
    const first = this.#direct.get(id);
    if (first === undefined) this.#direct.set(id, key);
    else if (first !== key) this.#redefined ??= { id, first: JSON.stringify(first), second: JSON.stringify(key) };
  }

  /**
   * Defines `id` as the product `rel` joins (it has no identification helper
   * of its own); the same relationship again is accepted, any other
   * definition of `id` is recorded as {@link ProductTree.#define} does.
   */
  #relate(id: string, rel: Relationship): void {
    const key = this.#direct.get(id);
    const earlier = this.#relationships.get(id);
    if (key !== undefined) this.#redefined ??= { id, first: JSON.stringify(key), second: joined(rel) };
    else if (earlier === undefined) this.#relationships.set(id, rel);
    else if (earlier.component !== rel.component || earlier.platform !== rel.platform) {
      this.#redefined ??= { id, first: joined(earlier), second: joined(rel) };
    }
  }

  /** The first product id defined twice with different identities (ids compared trimmed), which fails the document. */
  get redefined(): { readonly id: string; readonly first: string; readonly second: string } | undefined {
    return this.#redefined;
  }

  #known(productId: string): string | undefined {
    return this.#resolved.get(productId) ?? this.#direct.get(productId);
  }

  /**
   * The product key of `productId`, or `undefined` when the tree does not
   * define it (or its relationships form a cycle). Depth first without
   * recursion, as {@link ProductTree.#walkBranches}: a relationship is
   * resolved once both products it joins are.
   */
  key(productId: string): string | undefined {
    const known = this.#known(productId);
    if (known !== undefined || !this.#relationships.has(productId)) return known;
    // Relationships being resolved: each is built, directly or not, on the ones above it in `stack`.
    const resolving = new Set<string>();
    const stack = [productId];
    while (stack.length > 0) {
      const id = stack[stack.length - 1] as string;
      if (this.#known(id) !== undefined) {
        stack.pop();
        continue;
      }
      const rel = this.#relationships.get(id);
      if (rel === undefined) return undefined;
      if (!resolving.has(id)) {
        resolving.add(id);
        for (const part of [rel.platform, rel.component]) {
          if (this.#known(part) !== undefined) continue;
          // A relationship built on itself.
          if (resolving.has(part)) return undefined;
          stack.push(part);
        }
        continue;
      }
      this.#resolved.set(id, `${this.#known(rel.platform)}::${this.#known(rel.component)}`);
      this.#identities.set(id, `${this.identity(rel.platform)}::${this.identity(rel.component)}`);
      resolving.delete(id);
      stack.pop();
    }
    return this.#known(productId);
  }

  /**
   * The identity that compares the product `productId` (resolved by
   * {@link ProductTree.key} first): its key's (see {@link productIdentity}),
   * and for a relationship the identities of the two products it joins,
   * joined: a key alone cannot tell a join's `::` from one within a CPE 2.2
   * URI (`cpe:/o:x:y:8::gw-1`, an empty update).
   */
  identity(productId: string): string {
    return this.#identities.get(productId) ?? productIdentity(this.#known(productId) ?? productId);
  }

  /**
   * Of the product ids in `wanted`, those named directly or through
   * `group_ids`, but not through the groups in `expanded`, which it adds the
   * item's groups to: a caller that has every member of a group already need
   * not walk it again, so many items naming one large group cost its size
   * once, not once each. A group larger than `wanted` is not walked: each
   * wanted id is looked up in it, so vulnerabilities naming one large group
   * cost what their own status lists name, not the group's size each.
   */
  expand(item: JsonObject, expanded: Set<string>, wanted: ReadonlySet<string>): string[] {
    const ids = (optionalArray(item['product_ids']) ?? []).map(text).filter((x): x is string => x !== undefined && wanted.has(x));
    for (const group of optionalArray(item['group_ids']) ?? []) {
      const id = text(group);
      if (id === undefined || expanded.has(id)) continue;
      expanded.add(id);
      const members = this.#groups.get(id) ?? [];
      // One push per id: spreading a large group as arguments overflows a small stack but not a thread's larger one.
      if (wanted.size < members.length) {
        const set = this.#membersOf(id, members);
        for (const productId of wanted) if (set.has(productId)) ids.push(productId);
      } else for (const member of members) if (wanted.has(member)) ids.push(member);
    }
    return ids;
  }

  #membersOf(id: string, members: readonly string[]): ReadonlySet<string> {
    let set = this.#memberSets.get(id);
    if (set === undefined) {
      set = new Set(members);
      this.#memberSets.set(id, set);
    }
    return set;
  }
}

/** A relationship as a message names it. */
const joined = (rel: Relationship): string => `the relationship of ${JSON.stringify(rel.component)} to ${JSON.stringify(rel.platform)}`;

/** First value each product of `wanted` gets from a list of product-scoped items (flags, threats, remediations). */
function byProduct(
  tree: ProductTree,
  items: unknown,
  wanted: ReadonlySet<string>,
  pick: (item: JsonObject) => string | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  // Groups whose members all have their value: a later item naming one gives none of them another.
  const expanded = new Set<string>();
  for (const item of optionalArray(items) ?? []) {
    if (!isObject(item)) continue;
    const value = pick(item);
    if (value === undefined) continue;
    for (const id of tree.expand(item, expanded, wanted)) if (!out.has(id)) out.set(id, value);
  }
  return out;
}

/** A vulnerability item's first `ids[]` entry, trimmed: a tracking id is its `text` within its `system_name`. */
function firstId(vuln: JsonObject): { readonly text: string | undefined; readonly system: string | undefined } | undefined {
  const id = (optionalArray(vuln['ids']) ?? []).find(isObject);
  return id === undefined ? undefined : { text: text(id['text']), system: text(id['system_name']) };
}

/**
 * The `ids[].text` values that items without a `cve` share across two
 * tracking systems (`GitHub Issue` 42 and `Cisco Bug ID` 42): those items are
 * two vulnerabilities, each then named `system_name:text`. Every other id
 * keeps its bare text, so documents that are not ambiguous keep their ids.
 */
function idsOfTwoSystems(vulnerabilities: readonly unknown[]): ReadonlySet<string> {
  const systemOf = new Map<string, string | undefined>();
  const shared = new Set<string>();
  for (const vuln of vulnerabilities) {
    if (!isObject(vuln) || vuln['product_status'] === undefined || text(vuln['cve']) !== undefined) continue;
    const id = firstId(vuln);
    if (id?.text === undefined) continue;
    if (!systemOf.has(id.text)) systemOf.set(id.text, id.system);
    else if (systemOf.get(id.text) !== id.system) shared.add(id.text);
  }
  return shared;
}

function normalizeCsaf(document: unknown, context: NormalizeContext): Result<readonly VexClaim[], BackfillError> {
  const { digest } = context;
  if (!isObject(document)) return err(invalidDocument('CSAF', digest, 'document', 'is not a JSON object'));
  const meta = isObject(document['document']) ? document['document'] : {};
  const tracking = isObject(meta['tracking']) ? meta['tracking'] : {};
  const issuedAt = isoTimestamp(tracking['current_release_date']) ?? isoTimestamp(tracking['initial_release_date']);
  const tree = ProductTree.of(isObject(document['product_tree']) ? document['product_tree'] : {});
  if (tree === undefined) return err(invalidDocument('CSAF', digest, 'product_tree.branches', `nest deeper than ${MAX_NESTING} levels`));
  const twice = tree.redefined;
  if (twice !== undefined) {
    const { id, first, second } = twice;
    return err(
      invalidDocument(
        'CSAF',
        digest,
        'product_tree',
        `defines product ${JSON.stringify(id)} twice, as ${first} and as ${second} (CSAF 2.0 mandatory test 6.1.2)`,
      ),
    );
  }
  const vulnerabilities = optionalArray(document['vulnerabilities']);
  if (vulnerabilities === undefined) return err(invalidDocument('CSAF', digest, 'vulnerabilities', 'must be an array'));
  // Two product ids with one identity (a purl, a CPE), or two items with one vulnerability id but no `cve`, may disagree too.
  const claims = new ClaimsByKey();
  const twoSystems = idsOfTwoSystems(vulnerabilities);
  // The item that first gave each CVE: a CVE has one item (CSAF 6.1.23).
  const itemOfCve = new Map<string, number>();
  for (const [i, vuln] of vulnerabilities.entries()) {
    const where = `vulnerabilities[${i}]`;
    if (!isObject(vuln)) return err(invalidDocument('CSAF', digest, where, 'is not an object'));
    const cve = text(vuln['cve']);
    const earlier = cve === undefined ? undefined : itemOfCve.get(cve);
    if (earlier !== undefined) {
      return err(
        invalidDocument(
          'CSAF',
          digest,
          `${where}.cve`,
          `${JSON.stringify(cve)} is vulnerabilities[${earlier}]'s too: a CVE has one vulnerability item (CSAF 2.0 mandatory test 6.1.23)`,
        ),
      );
    }
    if (cve !== undefined) itemOfCve.set(cve, i);
    const statusLists = vuln['product_status'];
    if (statusLists === undefined) continue;
    if (!isObject(statusLists)) return err(invalidDocument('CSAF', digest, `${where}.product_status`, 'must be an object'));
    const id = firstId(vuln);
    const tracked = id?.text !== undefined && twoSystems.has(id.text) && id.system !== undefined ? `${id.system}:${id.text}` : id?.text;
    const vulnerabilityId = cve ?? tracked;
    if (vulnerabilityId === undefined) return err(invalidDocument('CSAF', digest, `${where}.cve`, 'is missing (and there are no ids[])'));
    // The products the status lists name: only theirs are looked up in the items' groups.
    const wanted = new Set<string>();
    for (const [list] of STATUS_LISTS) {
      for (const rawId of optionalArray(statusLists[list]) ?? []) {
        const id = text(rawId);
        if (id !== undefined) wanted.add(id);
      }
    }
    const flags = byProduct(tree, vuln['flags'], wanted, (f) => text(f['label']));
    const impacts = byProduct(tree, vuln['threats'], wanted, (t) => (t['category'] === 'impact' ? text(t['details']) : undefined));
    const remediations = byProduct(tree, vuln['remediations'], wanted, (r) => text(r['details']));
    // The list that first named each product: a product in lists of two statuses contradicts itself (CSAF 6.1.6).
    const listed = new Map<string, { list: string; status: ClaimStatus }>();
    for (const [list, status] of STATUS_LISTS) {
      const ids = optionalArray(statusLists[list]);
      if (ids === undefined) return err(invalidDocument('CSAF', digest, `${where}.product_status.${list}`, 'must be an array'));
      for (const [j, rawId] of ids.entries()) {
        const productId = text(rawId);
        const productKey = productId === undefined ? undefined : tree.key(productId);
        if (productId === undefined || productKey === undefined) {
          // Only text is quoted: JSON.stringify recurses, so quoting nested arrays would fail on one thread's stack and not another's.
          const problem =
            typeof rawId === 'string'
              ? `names product ${JSON.stringify(rawId)}, which product_tree does not define`
              : `is ${kindOf(rawId)}, not a product id`;
          return err(invalidDocument('CSAF', digest, `${where}.product_status.${list}[${j}]`, problem));
        }
        const earlier = listed.get(productId);
        if (earlier === undefined) listed.set(productId, { list, status });
        else if (earlier.status !== status) {
          return err(
            invalidDocument(
              'CSAF',
              digest,
              `${where}.product_status.${list}[${j}]`,
              `names product ${JSON.stringify(productId)}, which product_status.${earlier.list} also names: a product has one status per vulnerability (CSAF 2.0 mandatory test 6.1.6)`,
            ),
          );
        }
        const justification = status === 'not_affected' ? flags.get(productId) : undefined;
        const note = status === 'not_affected' ? impacts.get(productId) : remediations.get(productId);
        const at = `${where}.product_status.${list}[${j}]`;
        const contradiction = claims.add(
          {
            vulnerabilityId,
            productKey,
            status,
            ...(justification === undefined ? {} : { justification }),
            ...(note === undefined ? {} : { statement: note }),
            ...(issuedAt === undefined ? {} : { issuedAt }),
            documentDigest: digest,
            format: 'csaf',
          },
          at,
          tree.identity(productId),
        );
        if (contradiction !== undefined) {
          return err(
            invalidDocument(
              'CSAF',
              digest,
              at,
              `(product ${JSON.stringify(productId)}) ${contradiction}: product ids with one identity, and items with one vulnerability id, must agree`,
            ),
          );
        }
      }
    }
  }
  return ok(claims.claims);
}

/**
 * Normalizes CSAF 2.0 documents (VEX profile): one claim per vulnerability
 * (`cve`, else the first `ids[].text`; `system_name:text` when items of
 * one document give that text in two tracking systems, since an id is
 * unique only within its system) and product id in `product_status`
 * (`known_not_affected`, `known_affected`/`first_affected`/`last_affected`,
 * `fixed`/`first_fixed`, `under_investigation`). Product ids resolve through
 * `product_tree` (branches, full product names, relationships, groups) to a
 * purl or CPE when the product has one. The justification is the matching
 * `flags[].label`; the statement is the impact threat (not affected) or the
 * remediation details (otherwise). A product id defined twice with
 * different identities (a relationship without a helper being the join it
 * names), a CVE given by two vulnerability items, or a
 * product listed under two statuses of
 * one vulnerability (say `known_affected` and `known_not_affected`) fails the
 * document, as CSAF 2.0 forbids it. So do two claims about one product key
 * and vulnerability that differ (status, flag, note): two product ids with
 * one purl or CPE, or two items with one `ids[]` entry and no `cve`; the
 * same claim given twice is kept once.
 *
 * @example
 * ```ts
 * const claims = csafVexNormalizer.normalize(JSON.parse(text), { digest, retrievedAt });
 * ```
 */
export const csafVexNormalizer: VexNormalizer = Object.freeze({
  format: 'csaf',
  canNormalize: (document: unknown) => detectVexFormat(document) === 'csaf',
  normalize: normalizeCsaf,
});
