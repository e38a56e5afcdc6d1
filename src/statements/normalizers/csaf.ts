/**
 * CSAF 2.0 (VEX profile, and any CSAF document with `product_status`) to
 * claims.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import type { BackfillError } from '../../errors.js';
import { detectVexFormat, twoFormats } from '../detect.js';
import type { ClaimStatus, NormalizeContext, VexClaim, VexNormalizer } from '../ports.js';
import { productIdentity } from './purl.js';
import {
  ClaimsByKey,
  invalidDocument,
  isObject,
  isoTimestamp,
  keyTooLong,
  kindOf,
  MAX_CLAIM_KEY_BYTES,
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

/** A `cve` as the CSAF 2.0 schema spells one (`^CVE-[0-9]{4}-[0-9]{4,}$`): one spelling per CVE, so look-alikes cannot make two claims. */
const CVE_ID = /^CVE-[0-9]{4}-[0-9]{4,}$/;

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
  /** Relationships whose key cannot be built, with why ({@link ProductTree.unresolved}). */
  readonly #unresolved = new Map<string, string>();
  /** The first product id the tree defines twice with different identities (CSAF 2.0 mandatory test 6.1.2), if any, each as a message names it. */
  #redefined: { readonly id: string; readonly first: string; readonly second: string } | undefined;
  /** The first group id defined twice with different products, with the indexes of the two definitions (see {@link ProductTree.problem}). */
  #regrouped: { readonly id: string; readonly first: number; readonly second: number } | undefined;

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
    const definedAt = new Map<string, number>();
    for (const [at, group] of (optionalArray(tree['product_groups']) ?? []).entries()) {
      if (!isObject(group)) continue;
      const id = text(group['group_id']);
      const members = (optionalArray(group['product_ids']) ?? []).map(text).filter((x): x is string => x !== undefined);
      if (id === undefined) continue;
      const first = definedAt.get(id);
      if (first === undefined) {
        this.#groups.set(id, members);
        definedAt.set(id, at);
      } else if (!sameMembers(this.#groups.get(id) as readonly string[], members)) this.#regrouped ??= { id, first, second: at };
    }
  }

  #addProduct(product: unknown): void {
    if (!isObject(product)) return;
    const id = text(product['product_id']);
    if (id !== undefined) this.#define(id, helperKey(product) ?? id);
  }

  /** Keys `id`; a second definition with another key, or by a relationship, is recorded, not taken (see {@link ProductTree.problem}). */
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

  /**
   * Why the tree fails its document, if it does: the field and the
   * problem. The first product id defined twice with different identities
   * (ids compared trimmed; CSAF 2.0 mandatory test 6.1.2), else the first
   * group id `product_groups` defines twice with different products (6.1.5):
   * a flag, threat or remediation naming the group would reach the
   * products of one definition only.
   */
  get problem(): { readonly where: string; readonly problem: string } | undefined {
    if (this.#redefined !== undefined) {
      const { id, first, second } = this.#redefined;
      const problem = `defines product ${JSON.stringify(id)} twice, as ${first} and as ${second} (CSAF 2.0 mandatory test 6.1.2)`;
      return { where: 'product_tree', problem };
    }
    if (this.#regrouped === undefined) return undefined;
    const { id, first, second } = this.#regrouped;
    return {
      where: `product_tree.product_groups[${second}]`,
      problem: `defines group ${JSON.stringify(id)} again, with other products than product_groups[${first}] (CSAF 2.0 mandatory test 6.1.5)`,
    };
  }

  #known(productId: string): string | undefined {
    return this.#resolved.get(productId) ?? this.#direct.get(productId);
  }

  /**
   * The product key of `productId`, or `undefined` when the tree does not
   * define it, or its relationships cannot make a key of it (see
   * {@link ProductTree.unresolved} for why). Depth first without
   * recursion, as {@link ProductTree.#walkBranches}: a relationship is
   * resolved once both products it joins are.
   */
  key(productId: string): string | undefined {
    const known = this.#known(productId);
    if (known !== undefined || !this.#relationships.has(productId) || this.#unresolved.has(productId)) return known;
    // Relationships being resolved: each is built, directly or not, on the ones above it in `stack`.
    const resolving = new Set<string>();
    const stack = [productId];
    /** Records `why` for every relationship being resolved: each is built on the one that cannot be. */
    const unresolved = (why: string): undefined => {
      for (const id of resolving) this.#unresolved.set(id, why);
      return undefined;
    };
    while (stack.length > 0) {
      const id = stack[stack.length - 1] as string;
      if (this.#known(id) !== undefined) {
        stack.pop();
        continue;
      }
      const why = this.#unresolved.get(id);
      if (why !== undefined) return unresolved(why);
      const rel = this.#relationships.get(id);
      if (rel === undefined) {
        return unresolved(
          `whose relationships are built on product ${JSON.stringify(id)}, which product_tree does not define (CSAF 2.0 mandatory test 6.1.1)`,
        );
      }
      if (!resolving.has(id)) {
        resolving.add(id);
        for (const part of [rel.platform, rel.component]) {
          if (this.#known(part) !== undefined) continue;
          // A relationship built on itself.
          if (resolving.has(part)) {
            return unresolved(`whose relationships form a cycle through product ${JSON.stringify(part)} (CSAF 2.0 mandatory test 6.1.3)`);
          }
          stack.push(part);
        }
        continue;
      }
      const platform = this.#known(rel.platform) as string;
      const component = this.#known(rel.component) as string;
      // Joining doubles a key at each level a relationship is built on another used twice: a few kilobytes of them
      // would ask for gigabytes. A key longer in UTF-16 units than a claim's key may be in UTF-8 bytes is refused anyway.
      const length = platform.length + 2 + component.length;
      if (length > MAX_CLAIM_KEY_BYTES) {
        return unresolved(
          `whose key, joined through product_tree.relationships, would be at least ${length} characters long: more than the ${MAX_CLAIM_KEY_BYTES} bytes a claim's key may have in UTF-8 (a statements index entry)`,
        );
      }
      this.#resolved.set(id, `${platform}::${component}`);
      this.#identities.set(id, `${this.identity(rel.platform)}::${this.identity(rel.component)}`);
      resolving.delete(id);
      stack.pop();
    }
    return this.#known(productId);
  }

  /**
   * Why {@link ProductTree.key} could make no key of the relationship
   * product `productId`, as a message goes on after naming it, if it
   * could not: its relationships are built on a product the tree does not
   * define, form a cycle, or would join a key longer than any claim's
   * ({@link MAX_CLAIM_KEY_BYTES}: relationships built on one another can
   * double a key at each step, and a few kilobytes of them would ask for
   * gigabytes).
   */
  unresolved(productId: string): string | undefined {
    return this.#unresolved.get(productId);
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
   *
   * A caller that gives `open` (the wanted ids still without a value) gets
   * only those from the groups, and each is taken out of `open` as it is
   * found: the item's later groups, and once `open` is empty every group,
   * cost nothing for products that already have their value. Many large
   * groups holding the same products cost their products once per item
   * list, not once per group.
   */
  expand(item: JsonObject, expanded: Set<string>, wanted: ReadonlySet<string>, open?: Set<string>): string[] {
    const ids = (optionalArray(item['product_ids']) ?? []).map(text).filter((x): x is string => x !== undefined && wanted.has(x));
    const among = open ?? wanted;
    for (const group of optionalArray(item['group_ids']) ?? []) {
      const id = text(group);
      if (id === undefined || expanded.has(id)) continue;
      expanded.add(id);
      if (among.size === 0) continue;
      const members = this.#groups.get(id) ?? [];
      const found = ids.length;
      // One push per id: spreading a large group as arguments overflows a small stack but not a thread's larger one.
      if (among.size < members.length) {
        const set = this.#membersOf(id, members);
        for (const productId of among) if (set.has(productId)) ids.push(productId);
      } else for (const member of members) if (among.has(member)) ids.push(member);
      // Taken out after the walk: a member listed twice in the group is pushed twice, as before, and callers keep the first.
      if (open !== undefined) for (let i = found; i < ids.length; i++) open.delete(ids[i] as string);
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

/** Whether two lists of product ids hold the same ids (in any order, any repeats). */
function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const inA = new Set(a);
  const inB = new Set(b);
  return inA.size === inB.size && [...inB].every((id) => inA.has(id));
}

/** A relationship as a message names it. */
const joined = (rel: Relationship): string => `the relationship of ${JSON.stringify(rel.component)} to ${JSON.stringify(rel.platform)}`;

/** First value each product of `wanted` gets from a list of product-scoped items (threats, remediations). */
function byProduct(
  tree: ProductTree,
  items: unknown,
  wanted: ReadonlySet<string>,
  pick: (item: JsonObject) => string | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  // Groups whose members all have their value: a later item naming one gives none of them another.
  const expanded = new Set<string>();
  // Wanted products without a value yet: only these are looked up in the groups later items name.
  const open = new Set(wanted);
  for (const item of optionalArray(items) ?? []) {
    if (!isObject(item)) continue;
    const value = pick(item);
    if (value === undefined) continue;
    for (const id of tree.expand(item, expanded, wanted, open)) {
      if (!out.has(id)) out.set(id, value);
      open.delete(id);
    }
  }
  return out;
}

/** A flag label and the index of the flag item that gave it. */
interface Flagged {
  readonly label: string;
  readonly at: number;
}

/**
 * The justification (flag `label`, with the flag that gave it) of each
 * product of `wanted` in the vulnerability item at `where`, or the document's error when two flag
 * items give one product different labels, directly or through
 * `group_ids`: a product has at most one VEX justification per
 * vulnerability (CSAF 2.0 mandatory test 6.1.33), and taking the first
 * would store one of two reasons the document gives, silently. The same
 * label twice is one justification.
 */
function justificationsOf(
  tree: ProductTree,
  flags: unknown,
  wanted: ReadonlySet<string>,
  where: string,
  digest: string,
): Result<ReadonlyMap<string, Flagged>, BackfillError> {
  const first = new Map<string, Flagged>();
  // Each group with the flag that first named it: its wanted members all have that flag's label (else that flag failed).
  const groupFlag = new Map<string, Flagged>();
  const expanded = new Set<string>();
  // Wanted products without a label yet, and how many products have each label.
  const open = new Set(wanted);
  const labelled = new Map<string, number>();
  const twice = (productId: string, earlier: Flagged, label: string, at: number): Result<never, BackfillError> =>
    err(
      invalidDocument(
        'CSAF',
        digest,
        `${where}.flags[${at}]`,
        `gives product ${JSON.stringify(productId)} the justification ${JSON.stringify(label)}, which ${where}.flags[${earlier.at}] gives as ${JSON.stringify(earlier.label)}: a product has one VEX justification per vulnerability (CSAF 2.0 mandatory test 6.1.33)`,
      ),
    );
  for (const [at, item] of (optionalArray(flags) ?? []).entries()) {
    if (!isObject(item)) continue;
    const label = text(item['label']);
    if (label === undefined) continue;
    const named: string[] = [];
    for (const group of optionalArray(item['group_ids']) ?? []) {
      const id = text(group);
      if (id === undefined) continue;
      const earlier = groupFlag.get(id);
      if (earlier === undefined) {
        if (!expanded.has(id)) named.push(id);
      } else if (earlier.label !== label) {
        // Walked again, once, for the message: a member the status lists name, if the group has one.
        const member = tree.expand({ group_ids: [id] }, new Set(), wanted)[0];
        if (member !== undefined) return twice(member, earlier, label, at);
      }
    }
    // When every labelled product has this label, its groups can only label new ones: only those are looked up.
    const onlyNew = first.size === (labelled.get(label) ?? 0);
    for (const id of tree.expand(item, expanded, wanted, onlyNew ? open : undefined)) {
      const earlier = first.get(id);
      if (earlier === undefined) {
        first.set(id, { label, at });
        labelled.set(label, (labelled.get(label) ?? 0) + 1);
        open.delete(id);
      } else if (earlier.label !== label) return twice(id, earlier, label, at);
    }
    for (const id of named) if (!groupFlag.has(id)) groupFlag.set(id, { label, at });
  }
  return ok(first);
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
  const mixed = twoFormats('csaf', document, digest);
  if (mixed !== undefined) return err(mixed);
  const meta = isObject(document['document']) ? document['document'] : {};
  const tracking = isObject(meta['tracking']) ? meta['tracking'] : {};
  const issuedAt = isoTimestamp(tracking['current_release_date']) ?? isoTimestamp(tracking['initial_release_date']);
  const tree = ProductTree.of(isObject(document['product_tree']) ? document['product_tree'] : {});
  if (tree === undefined) return err(invalidDocument('CSAF', digest, 'product_tree.branches', `nest deeper than ${MAX_NESTING} levels`));
  const broken = tree.problem;
  if (broken !== undefined) return err(invalidDocument('CSAF', digest, broken.where, broken.problem));
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
    if (cve !== undefined && !CVE_ID.test(cve)) {
      return err(
        invalidDocument(
          'CSAF',
          digest,
          `${where}.cve`,
          `${JSON.stringify(cve)} is not a CVE id: CSAF 2.0 asks for CVE-YYYY-NNNN (upper case, four or more digits after the year); correct it, or give the id in ids[] instead`,
        ),
      );
    }
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
    const justified = justificationsOf(tree, vuln['flags'], wanted, where, digest);
    if (justified.isErr()) return err(justified.error);
    const flags = justified.value;
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
              ? `names product ${JSON.stringify(rawId)}, ${(productId === undefined ? undefined : tree.unresolved(productId)) ?? 'which product_tree does not define'}`
              : `is ${kindOf(rawId)}, not a product id`;
          return err(invalidDocument('CSAF', digest, `${where}.product_status.${list}[${j}]`, problem));
        }
        const tooLong = keyTooLong(vulnerabilityId, productKey);
        if (tooLong !== undefined) return err(invalidDocument('CSAF', digest, `${where}.product_status.${list}[${j}]`, tooLong));
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
        const justification = status === 'not_affected' ? flags.get(productId)?.label : undefined;
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
 * names), a group id defined twice with different products, a `cve`
 * outside the schema's `CVE-YYYY-NNNN` (upper case, four or more digits),
 * a CVE given by two vulnerability items, a
 * product listed under two statuses of
 * one vulnerability (say `known_affected` and `known_not_affected`), or a
 * product that two flags of one vulnerability give different labels
 * (directly or through a group) fails the document, as CSAF 2.0 forbids it. So do two claims about one product key
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
