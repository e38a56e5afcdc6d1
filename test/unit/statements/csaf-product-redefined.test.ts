/**
 * CSAF 2.0 defines each product id once (mandatory test 6.1.2). A document
 * defining one id twice with different identities (a purl in a branch and
 * another in full_product_names, or "GW-1" and "GW-1 " that read alike once
 * trimmed) used to key the product by whichever definition came last,
 * silently: the claim could name a product the document's status was not
 * about. Such a document now fails; the same definition twice is accepted.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:redef', retrievedAt: new Date('2026-01-01T00:00:00Z') };
const product = (id: string, purl: string) => ({ product_id: id, name: id, product_identification_helper: { purl } });
const csaf = (branchProduct: unknown, fullProductNames: unknown[]): unknown => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: {
    branches: [{ category: 'vendor', name: 'acme', branches: [{ category: 'product_version', name: '1', product: branchProduct }] }],
    full_product_names: fullProductNames,
  },
  vulnerabilities: [{ cve: 'CVE-2026-3333', product_status: { known_affected: ['GW-1'] } }],
});

describe('csafVexNormalizer and a product id defined twice', () => {
  it('fails two definitions with different purls, naming both', () => {
    const r = csafVexNormalizer.normalize(csaf(product('GW-1', 'pkg:generic/gateway@1'), [product('GW-1', 'pkg:generic/other@9')]), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(
      'CSAF document sha256:redef: product_tree defines product "GW-1" twice, as "pkg:generic/gateway@1" and as "pkg:generic/other@9" (CSAF 2.0 mandatory test 6.1.2)',
    );
  });

  it('fails ids that are one once trimmed', () => {
    const r = csafVexNormalizer.normalize(csaf(product('GW-1', 'pkg:generic/gateway@1'), [product('GW-1 ', 'pkg:generic/other@9')]), ctx);
    expect(r.isErr() && r.error.message).toMatch(/defines product "GW-1" twice/);
  });

  it('accepts the same definition twice', () => {
    const r = csafVexNormalizer.normalize(csaf(product('GW-1', 'pkg:generic/gateway@1'), [product('GW-1', 'pkg:generic/gateway@1')]), ctx);
    expect(r._unsafeUnwrap().map((c) => c.productKey)).toEqual(['pkg:generic/gateway@1']);
  });
});
