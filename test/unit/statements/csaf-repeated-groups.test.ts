/**
 * Many flags, threats or remediations naming one large product group: the
 * group is walked once, not once per item, so a CSAF document of a few
 * megabytes is normalized in moments instead of hanging its worker for
 * minutes per vulnerability. The first item's value still wins for each
 * product. Nor is the group walked once per vulnerability: of its members,
 * only those the vulnerability's status lists name are looked up.
 *
 * The work is counted, not timed (see stepsOf): a document four times as
 * large must take about four times the steps, where a walk per item takes
 * sixteen.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import type { VexClaim } from '../../../src/statements/ports.js';
import { stepsOf } from '../../support/work-count.js';

const ctx = { digest: 'sha256:csaf', retrievedAt: new Date('2025-10-01T00:00:00Z') };

/** The sizes compared: linear work grows about 4 times from the first to the second, quadratic work 16 times. */
const SMALL = 1_000;
const LARGE = 4 * SMALL;
/** The growth allowed from SMALL to LARGE: well above linear (4), well below quadratic (16). */
const LINEAR = 8;

const membersOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `P${i}`);

/** A VEX document: `members` products (and Q), `G` holds the `members`, the first, the last and Q are affected, `remediations` as given. */
const csaf = (members: number, remediations: unknown[] = []): { [key: string]: unknown; vulnerabilities: Record<string, unknown>[] } => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: {
    full_product_names: [...membersOf(members), 'Q'].map((id) => ({ product_id: id, name: id })),
    product_groups: [{ group_id: 'G', product_ids: membersOf(members) }],
  },
  vulnerabilities: [{ cve: 'CVE-2025-0001', product_status: { known_affected: ['P0', `P${members - 1}`, 'Q'] }, remediations }],
});

/** The steps normalizing the document of each size took, and its claims at the larger one. */
function growth(document: (members: number) => unknown): { readonly ratio: number; readonly claims: readonly VexClaim[] } {
  const [smallDoc, largeDoc] = [document(SMALL), document(LARGE)];
  const small = stepsOf(() => claimsOf(smallDoc));
  const large = stepsOf(() => claimsOf(largeDoc));
  expect(small.steps).toBeGreaterThan(SMALL); // it counted the walk at all
  return { ratio: large.steps / small.steps, claims: large.result };
}

const claimsOf = (document: unknown): readonly VexClaim[] => csafVexNormalizer.normalize(document, ctx)._unsafeUnwrap();

describe('csafVexNormalizer and items naming one large group', () => {
  it.each([
    ['three of its members', (members: number) => ['P0', `P${members - 1}`, 'Q']],
    ['all its members', (members: number) => [...membersOf(members), 'Q']],
  ])('walks the group once for many remediations each naming it, not once per remediation, the status naming %s', (_, affected) => {
    const { ratio, claims } = growth((members) => {
      const remediations = membersOf(members).map((_, i) => ({ category: 'vendor_fix', details: `fix ${i}`, group_ids: ['G'] }));
      remediations.push({ category: 'vendor_fix', details: 'fix for Q', group_ids: ['G'], product_ids: ['Q'] } as never);
      const doc = csaf(members, remediations);
      doc.vulnerabilities[0]!['product_status'] = { known_affected: affected(members) };
      return doc;
    });
    expect(ratio).toBeLessThan(LINEAR);
    const named = affected(LARGE);
    expect(claims).toHaveLength(named.length);
    expect([claims[0], claims.at(-2), claims.at(-1)].map((c) => [c?.productKey, c?.statement])).toEqual([
      ['P0', 'fix 0'],
      [`P${LARGE - 1}`, 'fix 0'],
      ['Q', 'fix for Q'],
    ]);
  });

  it('gives a group named many times in one flag its members once', () => {
    const { ratio, claims } = growth((members) => {
      const doc = csaf(members);
      doc.vulnerabilities[0]!['product_status'] = { known_not_affected: ['P1'] };
      doc.vulnerabilities[0]!['flags'] = [{ label: 'component_not_present', group_ids: Array(members / 4).fill('G') }];
      return doc;
    });
    expect(ratio).toBeLessThan(LINEAR);
    expect(claims.map((c) => [c.productKey, c.justification])).toEqual([['P1', 'component_not_present']]);
  });

  it('does not walk the group once per vulnerability whose flags and threats name it', () => {
    const { ratio, claims } = growth((members) => {
      const vulnerabilities = Array.from({ length: members / 2 }, (_, v) => ({
        cve: `CVE-2025-${10000 + v}`,
        product_status: { known_not_affected: [`P${v}`] },
        flags: [{ label: 'component_not_present', group_ids: ['G'] }],
        threats: [{ category: 'impact', details: `impact ${v}`, group_ids: ['G'] }],
      }));
      return { ...csaf(members), vulnerabilities };
    });
    expect(ratio).toBeLessThan(LINEAR);
    expect(claims).toHaveLength(LARGE / 2);
    expect(claims.slice(-1).map((c) => [c.productKey, c.justification, c.statement])).toEqual([
      [`P${LARGE / 2 - 1}`, 'component_not_present', `impact ${LARGE / 2 - 1}`],
    ]);
  });
});
