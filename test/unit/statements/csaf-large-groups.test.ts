/**
 * A CSAF product group is expanded without spreading its members as call
 * arguments: a group of a few hundred thousand products would overflow
 * the calling thread's stack but not a normalizer thread's larger one.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:csaf', retrievedAt: new Date('2025-10-01T00:00:00Z') };

describe('csafVexNormalizer and large product groups', () => {
  it('expands a group of 300,000 products on the calling thread', () => {
    const members = Array.from({ length: 300_000 }, (_, i) => `P${i}`);
    const doc = {
      document: { csaf_version: '2.0', category: 'csaf_vex' },
      product_tree: { full_product_names: [{ product_id: 'P0', name: 'p' }], product_groups: [{ group_id: 'G', product_ids: members }] },
      vulnerabilities: [
        {
          cve: 'CVE-2026-0001',
          product_status: { known_not_affected: ['P0'] },
          flags: [{ label: 'component_not_present', group_ids: ['G'] }],
        },
      ],
    };
    const claims = csafVexNormalizer.normalize(doc, ctx)._unsafeUnwrap();
    expect(claims.map((c) => [c.productKey, c.justification])).toEqual([['P0', 'component_not_present']]);
  });
});
