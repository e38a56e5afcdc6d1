/**
 * A CSAF status naming a relationship product whose key cannot be made
 * said the product tree did not define it, though the tree did: its
 * relationships were built on a product the tree does not define (CSAF 2.0
 * mandatory test 6.1.1) or formed a cycle (6.1.3). The document still
 * fails; its message now says which, naming the product to fix.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:rel', retrievedAt: new Date('2026-01-01T00:00:00Z') };

const relationship = (id: string, component: string, platform: string) => ({
  category: 'installed_on',
  product_reference: component,
  relates_to_product_reference: platform,
  full_product_name: { name: id, product_id: id },
});

/** Product A (a purl) and `relationships`; CVE-2026-0003 fixed in `fixed`. */
const csaf = (relationships: unknown[], fixed: string) => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: {
    full_product_names: [{ name: 'a', product_id: 'A', product_identification_helper: { purl: 'pkg:npm/a@1.0.0' } }],
    relationships,
  },
  vulnerabilities: [{ cve: 'CVE-2026-0003', product_status: { fixed: [fixed] } }],
});

const messageOf = (doc: unknown): string | false => {
  const r = csafVexNormalizer.normalize(doc, ctx);
  return r.isErr() && r.error.message;
};

describe('csafVexNormalizer and a relationship product without a key', () => {
  it('names the product its relationships are built on that the tree does not define', () => {
    expect(messageOf(csaf([relationship('R1', 'A', 'OS'), relationship('R2', 'R1', 'A')], 'R2'))).toBe(
      'CSAF document sha256:rel: vulnerabilities[0].product_status.fixed[0] names product "R2", whose relationships are built on product "OS", which product_tree does not define (CSAF 2.0 mandatory test 6.1.1)',
    );
  });

  it('names the product its relationships form a cycle through', () => {
    expect(messageOf(csaf([relationship('R1', 'A', 'R2'), relationship('R2', 'A', 'R1')], 'R1'))).toBe(
      'CSAF document sha256:rel: vulnerabilities[0].product_status.fixed[0] names product "R1", whose relationships form a cycle through product "R1" (CSAF 2.0 mandatory test 6.1.3)',
    );
  });

  it('still says a product id no definition names is not defined', () => {
    expect(messageOf(csaf([], 'NOPE'))).toBe(
      'CSAF document sha256:rel: vulnerabilities[0].product_status.fixed[0] names product "NOPE", which product_tree does not define',
    );
  });
});
