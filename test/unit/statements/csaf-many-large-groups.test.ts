/**
 * A CSAF vulnerability whose flags, threats and remediations name many
 * large product groups used to cost vulnerabilities × groups × products:
 * a 3 MB document (300 products, 300 groups each holding them all, 300
 * vulnerabilities whose items name every group) took half a minute of a
 * worker's CPU. Once a product has its value from an item list, no later
 * group is searched for it, so the work is about the claims made. The
 * work is counted (membership look-ups, which every group walk makes), not
 * timed: doubling every dimension must not make it eight times as much.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:groups', retrievedAt: new Date('2026-01-01T00:00:00Z') };

/** `n` products, `n` groups each holding all of them, `n` vulnerabilities whose three item lists name every group. */
function document(n: number, labels: readonly string[] = ['component_not_present']): unknown {
  const products = Array.from({ length: n }, (_, i) => `P${i}`);
  const groups = Array.from({ length: n }, (_, g) => `G${g}`);
  return {
    document: { csaf_version: '2.0', category: 'csaf_vex' },
    product_tree: {
      full_product_names: products.map((id) => ({ product_id: id, name: id })),
      product_groups: groups.map((g) => ({ group_id: g, product_ids: products })),
    },
    vulnerabilities: Array.from({ length: n }, (_, v) => ({
      cve: `CVE-2025-${10000 + v}`,
      product_status: { known_not_affected: products.slice(0, n / 2), known_affected: products.slice(n / 2) },
      flags: labels.map((label) => ({ label, group_ids: groups })),
      threats: [
        { category: 'impact', details: `impact ${v}`, group_ids: groups },
        { category: 'impact', details: 'later', group_ids: groups },
      ],
      remediations: [
        { category: 'vendor_fix', details: `fix ${v}`, group_ids: groups },
        { category: 'vendor_fix', details: 'later', group_ids: groups },
      ],
    })),
  };
}

const has = Set.prototype.has;
afterEach(() => {
  Set.prototype.has = has;
});

/** The normalizer's claims of `doc` and how many set look-ups it made. */
function counted(doc: unknown): { claims: number; lookups: number; first: unknown } {
  let lookups = 0;
  Set.prototype.has = function (this: Set<unknown>, value: unknown): boolean {
    lookups++;
    return has.call(this, value);
  };
  const claims = csafVexNormalizer.normalize(doc, ctx);
  Set.prototype.has = has;
  const value = claims._unsafeUnwrap();
  return { claims: value.length, lookups, first: value.map((c) => [c.productKey, c.status, c.justification, c.statement])[0] };
}

describe('csafVexNormalizer and many large groups named by every item', () => {
  it('does work in proportion to the claims, not to vulnerabilities × groups × products', () => {
    const small = counted(document(40));
    const large = counted(document(80));
    expect([small.claims, large.claims]).toEqual([1600, 6400]);
    // The claims grow 4×; walking every group for every vulnerability grows 8× (about 10^6 look-ups at 80).
    expect(large.lookups / small.lookups).toBeLessThan(5);
    expect(large.lookups).toBeLessThan(40 * large.claims);
    expect(large.first).toEqual(['P0', 'not_affected', 'component_not_present', 'impact 0']);
  });

  it('still fails a product two flags give different labels through two groups', () => {
    const r = csafVexNormalizer.normalize(document(6, ['component_not_present', 'inline_mitigations_already_exist']), ctx);
    expect(r.isErr() && r.error.message).toContain(
      'vulnerabilities[0].flags[1] gives product "P0" the justification "inline_mitigations_already_exist", which vulnerabilities[0].flags[0] gives as "component_not_present"',
    );
  });
});
