/**
 * Many flags, threats or remediations naming one large product group: the
 * group is walked once, not once per item, so a CSAF document of a few
 * megabytes is normalized in moments instead of hanging its worker for
 * minutes per vulnerability. The first item's value still wins for each
 * product. Nor is the group walked once per vulnerability: of its members,
 * only those the vulnerability's status lists name are looked up.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:csaf', retrievedAt: new Date('2025-10-01T00:00:00Z') };

const MEMBERS = 20_000;
const members = Array.from({ length: MEMBERS }, (_, i) => `P${i}`);

/** A VEX document: every product affected, `G` holds them all, `remediations` as given. */
const csaf = (remediations: unknown[]): unknown => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: {
    full_product_names: [...members, 'Q'].map((id) => ({ product_id: id, name: id })),
    product_groups: [{ group_id: 'G', product_ids: members }],
  },
  vulnerabilities: [{ cve: 'CVE-2025-1', product_status: { known_affected: ['P0', `P${MEMBERS - 1}`, 'Q'] }, remediations }],
});

describe('csafVexNormalizer and items naming one large group', () => {
  it(`normalizes ${MEMBERS} remediations each naming a group of ${MEMBERS} products within seconds`, () => {
    const remediations = members.map((_, i) => ({ category: 'vendor_fix', details: `fix ${i}`, group_ids: ['G'] }));
    remediations.push({ category: 'vendor_fix', details: 'fix for Q', group_ids: ['G'], product_ids: ['Q'] } as never);
    const started = performance.now();
    const claims = csafVexNormalizer.normalize(csaf(remediations), ctx)._unsafeUnwrap();
    // Walking the group once per remediation takes 4 × 10^8 steps: many seconds; once, a few milliseconds.
    expect(performance.now() - started).toBeLessThan(3000);
    expect(claims.map((c) => [c.productKey, c.statement])).toEqual([
      ['P0', 'fix 0'],
      [`P${MEMBERS - 1}`, 'fix 0'],
      ['Q', 'fix for Q'],
    ]);
  });

  it('gives a group named twice in one flag its members once', () => {
    const flags = [{ label: 'component_not_present', group_ids: Array(MEMBERS / 4).fill('G') }];
    const doc = csaf([]) as { vulnerabilities: [{ product_status: Record<string, string[]>; flags?: unknown }] };
    doc.vulnerabilities[0].product_status = { known_not_affected: ['P1'] };
    doc.vulnerabilities[0].flags = flags;
    const started = performance.now();
    const claims = csafVexNormalizer.normalize(doc, ctx)._unsafeUnwrap();
    expect(performance.now() - started).toBeLessThan(3000);
    expect(claims.map((c) => [c.productKey, c.justification])).toEqual([['P1', 'component_not_present']]);
  });

  it(`normalizes ${MEMBERS / 2} vulnerabilities, each with items naming the group of ${MEMBERS}, within seconds`, () => {
    const vulnerabilities = Array.from({ length: MEMBERS / 2 }, (_, v) => ({
      cve: `CVE-2025-${v}`,
      product_status: { known_not_affected: [`P${v}`] },
      flags: [{ label: 'component_not_present', group_ids: ['G'] }],
      threats: [{ category: 'impact', details: `impact ${v}`, group_ids: ['G'] }],
    }));
    const doc = { ...(csaf([]) as object), vulnerabilities };
    const started = performance.now();
    const claims = csafVexNormalizer.normalize(doc, ctx)._unsafeUnwrap();
    // Walking the group for each vulnerability's two items takes 4 × 10^8 steps: many seconds.
    expect(performance.now() - started).toBeLessThan(3000);
    expect(claims).toHaveLength(MEMBERS / 2);
    expect(claims.slice(-1).map((c) => [c.productKey, c.justification, c.statement])).toEqual([
      [`P${MEMBERS / 2 - 1}`, 'component_not_present', `impact ${MEMBERS / 2 - 1}`],
    ]);
  });
});
