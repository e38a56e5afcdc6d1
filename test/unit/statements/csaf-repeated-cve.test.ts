/**
 * CSAF 2.0 gives each CVE one vulnerability item (mandatory test 6.1.23).
 * A document with two items for one CVE that disagree about a product used
 * to keep whichever claim came first, silently. Such a document now fails,
 * naming both items.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:cve2', retrievedAt: new Date('2026-01-01T00:00:00Z') };
const csaf = (vulnerabilities: unknown[]): unknown => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: { full_product_names: [{ product_id: 'RTR-7', name: 'router 7' }] },
  vulnerabilities,
});

describe('csafVexNormalizer and a CVE in two vulnerability items', () => {
  it('fails the document, naming both items', () => {
    const r = csafVexNormalizer.normalize(
      csaf([
        { cve: 'CVE-2026-4444', product_status: { known_not_affected: ['RTR-7'] } },
        { cve: 'CVE-2026-5555', product_status: { fixed: ['RTR-7'] } },
        { cve: ' CVE-2026-4444', product_status: { known_affected: ['RTR-7'] } },
      ]),
      ctx,
    );
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(
      'CSAF document sha256:cve2: vulnerabilities[2].cve "CVE-2026-4444" is vulnerabilities[0]\'s too: a CVE has one vulnerability item (CSAF 2.0 mandatory test 6.1.23)',
    );
  });

  it('accepts distinct CVEs', () => {
    const r = csafVexNormalizer.normalize(
      csaf([
        { cve: 'CVE-2026-4444', product_status: { known_not_affected: ['RTR-7'] } },
        { cve: 'CVE-2026-5555', product_status: { fixed: ['RTR-7'] } },
      ]),
      ctx,
    );
    expect(r._unsafeUnwrap().map((c) => `${c.vulnerabilityId}|${c.status}`)).toEqual(['CVE-2026-4444|not_affected', 'CVE-2026-5555|fixed']);
  });
});
