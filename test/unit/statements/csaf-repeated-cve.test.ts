/**
 * CSAF 2.0 gives each CVE one vulnerability item (mandatory test 6.1.23).
 * A document with two items for one CVE that disagree about a product used
 * to keep whichever claim came first, silently. Such a document now fails,
 * naming both items.
 *
 * The schema also spells a `cve` one way: `^CVE-[0-9]{4}-[0-9]{4,}$`.
 * Spellings outside it (`cve-2024-1234`, a Unicode dash, a space inside)
 * passed that check as another CVE, so one document gave two claims about
 * one vulnerability and product, which may disagree. Such a document now
 * fails too, naming the value.
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

describe('csafVexNormalizer and a cve outside the schema pattern', () => {
  it('fails a document whose two items name one CVE in two cases, naming the look-alike', () => {
    const r = csafVexNormalizer.normalize(
      csaf([
        { cve: 'CVE-2024-1234', product_status: { known_not_affected: ['RTR-7'] } },
        { cve: 'cve-2024-1234', product_status: { known_affected: ['RTR-7'] } },
      ]),
      ctx,
    );
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(
      'CSAF document sha256:cve2: vulnerabilities[1].cve "cve-2024-1234" is not a CVE id: CSAF 2.0 asks for CVE-YYYY-NNNN (upper case, four or more digits after the year); correct it, or give the id in ids[] instead',
    );
  });

  it.each([
    ['cve-2024-1234'],
    ['Cve-2024-1234'],
    ['CVE\u20112024\u20111234'],
    ['CVE-2024 -1234'],
    ['CVE-24-1234'],
    ['CVE-2024-123'],
    ['CVE-2024-1234a'],
    ['GHSA-xxxx-yyyy-zzzz'],
  ])('fails %j alone, as it makes a vulnerability id no other spelling of that CVE shares', (cve) => {
    const r = csafVexNormalizer.normalize(csaf([{ cve, product_status: { fixed: ['RTR-7'] } }]), ctx);
    expect(r.isErr() && r.error.message).toContain(`vulnerabilities[0].cve ${JSON.stringify(cve)} is not a CVE id`);
  });

  it('accepts the schema spelling, trimmed as every field is, and five or more digits', () => {
    const r = csafVexNormalizer.normalize(
      csaf([
        { cve: ' CVE-2024-1234 ', product_status: { fixed: ['RTR-7'] } },
        { cve: 'CVE-2024-1234567', product_status: { fixed: ['RTR-7'] } },
        { ids: [{ system_name: 'GitHub', text: 'GHSA-xxxx-yyyy-zzzz' }], product_status: { fixed: ['RTR-7'] } },
      ]),
      ctx,
    );
    expect(r._unsafeUnwrap().map((c) => c.vulnerabilityId)).toEqual(['CVE-2024-1234', 'CVE-2024-1234567', 'GHSA-xxxx-yyyy-zzzz']);
  });
});
