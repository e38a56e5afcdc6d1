/**
 * CSAF 2.0 forbids one product in contradicting `product_status` groups of
 * one vulnerability (mandatory test 6.1.6: affected, not affected, fixed,
 * under investigation). Such a document used to give the product the status
 * of whichever list the normalizer read first (`known_not_affected`),
 * whatever the document's order: a silent "not affected" for a product the
 * same document calls affected. It now fails, naming both lists.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:contra', retrievedAt: new Date('2026-01-01T00:00:00Z') };
const csaf = (productStatus: unknown): unknown => ({
  document: { csaf_version: '2.0', category: 'csaf_vex', tracking: { current_release_date: '2026-01-01T00:00:00Z' } },
  product_tree: {
    full_product_names: [
      { product_id: 'GW-1', name: 'gateway 1', product_identification_helper: { purl: 'pkg:generic/gateway@1' } },
      { product_id: 'GW-2', name: 'gateway 2' },
    ],
  },
  vulnerabilities: [{ cve: 'CVE-2026-2222', product_status: productStatus }],
});

describe('csafVexNormalizer and contradicting product statuses', () => {
  it('fails a product both affected and not affected, naming both lists', () => {
    const r = csafVexNormalizer.normalize(csaf({ known_affected: ['GW-1'], known_not_affected: ['GW-1'] }), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(
      'CSAF document sha256:contra: vulnerabilities[0].product_status.known_affected[0] names product "GW-1", which product_status.known_not_affected also names: a product has one status per vulnerability (CSAF 2.0 mandatory test 6.1.6)',
    );
  });

  it('fails fixed and under investigation too', () => {
    const r = csafVexNormalizer.normalize(csaf({ fixed: ['GW-2'], under_investigation: ['GW-1', 'GW-2'] }), ctx);
    expect(r.isErr() && r.error.message).toMatch(
      /product_status\.under_investigation\[1\] names product "GW-2", which product_status\.fixed also names/,
    );
  });

  it('accepts a product in two lists of one status, and claims it once', () => {
    const r = csafVexNormalizer.normalize(csaf({ first_affected: ['GW-1'], known_affected: ['GW-1'], fixed: ['GW-2'] }), ctx);
    expect(r._unsafeUnwrap().map((c) => `${c.productKey}|${c.status}`)).toEqual(['pkg:generic/gateway@1|affected', 'GW-2|fixed']);
  });
});
