/**
 * CSAF 2.0 defines each product id once (mandatory test 6.1.2). A document
 * defining one id twice with different identities (a purl in a branch and
 * another in full_product_names, or "GW-1" and "GW-1 " that read alike once
 * trimmed) used to key the product by whichever definition came last,
 * silently: the claim could name a product the document's status was not
 * about. Such a document now fails; the same definition twice is accepted.
 * A relationship without an identification helper defines its product as
 * the join of two others: one defining an id a branch already defines was
 * ignored, and of two defining one id as different joins the last was
 * taken, both silently. Those fail too.
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

/** A tree whose relationships (after `product`'s branch) define products; the status names `listed`. */
const related = (relationships: unknown[], listed: string): unknown => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: {
    branches: [
      {
        category: 'vendor',
        name: 'acme',
        branches: [{ category: 'product_version', name: '1', product: product('GW-1', 'pkg:generic/gateway@1') }],
      },
    ],
    full_product_names: [product('OS-1', 'pkg:generic/os@1'), product('OS-2', 'pkg:generic/os@2')],
    relationships,
  },
  vulnerabilities: [{ cve: 'CVE-2026-3333', product_status: { known_affected: [listed] } }],
});
const relationship = (id: string, component: string, platform: string, purl?: string) => ({
  category: 'installed_on',
  product_reference: component,
  relates_to_product_reference: platform,
  full_product_name: { product_id: id, name: id, ...(purl === undefined ? {} : { product_identification_helper: { purl } }) },
});

describe('csafVexNormalizer and a product id a relationship defines again', () => {
  it('fails a relationship without a helper that defines a branch product again, naming both', () => {
    const r = csafVexNormalizer.normalize(related([relationship('GW-1', 'GW-1', 'OS-1')], 'GW-1'), ctx);
    expect(r.isErr() && r.error.message).toBe(
      'CSAF document sha256:redef: product_tree defines product "GW-1" twice, as "pkg:generic/gateway@1" and as the relationship of "GW-1" to "OS-1" (CSAF 2.0 mandatory test 6.1.2)',
    );
  });

  it('fails two relationships that define one product id as different joins, in either order with a helper', () => {
    const two = csafVexNormalizer.normalize(
      related([relationship('GW-ON', 'GW-1', 'OS-1'), relationship('GW-ON', 'GW-1', 'OS-2')], 'GW-ON'),
      ctx,
    );
    expect(two.isErr() && two.error.message).toBe(
      'CSAF document sha256:redef: product_tree defines product "GW-ON" twice, as the relationship of "GW-1" to "OS-1" and as the relationship of "GW-1" to "OS-2" (CSAF 2.0 mandatory test 6.1.2)',
    );
    const helperLast = related(
      [relationship('GW-ON', 'GW-1', 'OS-1'), relationship('GW-ON', 'GW-1', 'OS-2', 'pkg:generic/gw-on@1')],
      'GW-ON',
    );
    expect(csafVexNormalizer.normalize(helperLast, ctx).isErr()).toBe(true);
    const helperFirst = related(
      [relationship('GW-ON', 'GW-1', 'OS-2', 'pkg:generic/gw-on@1'), relationship('GW-ON', 'GW-1', 'OS-1')],
      'GW-ON',
    );
    expect(csafVexNormalizer.normalize(helperFirst, ctx).isErr()).toBe(true);
  });

  it('accepts the same relationship twice', () => {
    const r = csafVexNormalizer.normalize(
      related([relationship('GW-ON', 'GW-1', 'OS-1'), relationship('GW-ON', 'GW-1', 'OS-1')], 'GW-ON'),
      ctx,
    );
    expect(r._unsafeUnwrap().map((c) => c.productKey)).toEqual(['pkg:generic/os@1::pkg:generic/gateway@1']);
  });
});
