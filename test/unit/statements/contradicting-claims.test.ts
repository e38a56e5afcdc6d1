/**
 * Two places in one document that say different things about one
 * vulnerability and product key used to keep whichever came first,
 * silently (CycloneDX: two analyses of one component; CSAF: two product
 * ids with one purl, or two items with one vulnerability id and no `cve`).
 * Such a document now fails with DOCUMENT_INVALID naming both places; the
 * same claim given twice is kept once, and two that differ only in their
 * time are one claim with the later time. OpenVEX keeps its own rule: a later
 * statement overrides an earlier one, also under another spelling of the
 * product's purl.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';

const ctx = { digest: 'sha256:conflict', retrievedAt: new Date('2026-01-01T00:00:00Z') };

const bom = (vulnerabilities: unknown[]): unknown => ({
  bomFormat: 'CycloneDX',
  specVersion: '1.5',
  components: [
    { type: 'library', 'bom-ref': 'log', name: 'log', purl: 'pkg:npm/log@1.0.0' },
    { type: 'library', 'bom-ref': 'log-again', name: 'log', purl: 'pkg:npm/log@1.0.0' },
  ],
  vulnerabilities,
});

describe('cycloneDxVexNormalizer and two analyses of one component', () => {
  it.for([
    {
      name: 'two entries with one id',
      vulns: [
        { id: 'CVE-2026-1', analysis: { state: 'not_affected' }, affects: [{ ref: 'log' }] },
        { id: 'CVE-2026-1', analysis: { state: 'exploitable' }, affects: [{ ref: 'log' }] },
      ],
      message:
        'CycloneDX document sha256:conflict: vulnerabilities[1].affects[0] gives status "affected" for vulnerability "CVE-2026-1" and product "pkg:npm/log@1.0.0", which vulnerabilities[0].affects[0] gives "not_affected": a component has one analysis per vulnerability; merge the two entries or drop one',
    },
    {
      name: 'two refs to one purl with different versions',
      vulns: [
        {
          id: 'CVE-2026-1',
          analysis: { state: 'exploitable' },
          affects: [{ ref: 'log' }, { ref: 'log-again', versions: [{ version: '1.0.0', status: 'unaffected' }] }],
        },
      ],
      message:
        'CycloneDX document sha256:conflict: vulnerabilities[0].affects[1] gives status "not_affected" for vulnerability "CVE-2026-1" and product "pkg:npm/log@1.0.0", which vulnerabilities[0].affects[0] gives "affected": a component has one analysis per vulnerability; merge the two entries or drop one',
    },
    {
      name: 'one state with two details',
      vulns: [
        { id: 'CVE-2026-1', analysis: { state: 'not_affected', detail: 'a' }, affects: [{ ref: 'log' }] },
        { id: 'CVE-2026-1', analysis: { state: 'not_affected', detail: 'b' }, affects: [{ ref: 'log' }] },
      ],
      message:
        'CycloneDX document sha256:conflict: vulnerabilities[1].affects[0] gives statement "b" for vulnerability "CVE-2026-1" and product "pkg:npm/log@1.0.0", which vulnerabilities[0].affects[0] gives "a": a component has one analysis per vulnerability; merge the two entries or drop one',
    },
  ])('fails the document: $name', ({ vulns, message }) => {
    const r = cycloneDxVexNormalizer.normalize(bom(vulns), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(message);
  });

  it('keeps one claim with the later time of two entries that differ only in their time, in either order', () => {
    const at = (published: string) => ({
      id: 'CVE-2026-1',
      published,
      analysis: { state: 'not_affected', justification: 'code_not_present' },
      affects: [{ ref: 'log' }],
    });
    for (const order of [
      [at('2026-01-01T00:00:00Z'), at('2026-02-01T00:00:00Z')],
      [at('2026-02-01T00:00:00Z'), at('2026-01-01T00:00:00Z')],
      [{ ...at('x'), published: undefined }, at('2026-02-01T00:00:00Z')],
    ]) {
      const r = cycloneDxVexNormalizer.normalize(bom(order), ctx);
      expect(r._unsafeUnwrap().map((c) => `${c.productKey}|${c.status}|${c.issuedAt}`)).toEqual([
        'pkg:npm/log@1.0.0|not_affected|2026-02-01T00:00:00.000Z',
      ]);
    }
  });

  it('keeps an identical repeat once', () => {
    const same = { id: 'CVE-2026-1', analysis: { state: 'not_affected', justification: 'code_not_present' }, affects: [{ ref: 'log' }] };
    const r = cycloneDxVexNormalizer.normalize(bom([same, { ...same }, { ...same, affects: [{ ref: 'log-again' }, { ref: 'log' }] }]), ctx);
    expect(r._unsafeUnwrap().map((c) => `${c.productKey}|${c.status}|${c.justification}`)).toEqual([
      'pkg:npm/log@1.0.0|not_affected|code_not_present',
    ]);
  });
});

describe('csafVexNormalizer and two claims about one product key', () => {
  const csaf = (vulnerabilities: unknown[]): unknown => ({
    document: { csaf_version: '2.0', category: 'csaf_vex' },
    product_tree: {
      full_product_names: [
        { product_id: 'A', name: 'a', product_identification_helper: { purl: 'pkg:rpm/a@1' } },
        { product_id: 'B', name: 'b', product_identification_helper: { purl: 'pkg:rpm/a@1' } },
      ],
    },
    vulnerabilities,
  });

  it.for([
    {
      name: 'two product ids with one purl',
      vulns: [{ cve: 'CVE-2026-0002', product_status: { known_affected: ['A'], fixed: ['B'] } }],
      message:
        'CSAF document sha256:conflict: vulnerabilities[0].product_status.fixed[0] (product "B") gives status "fixed" for vulnerability "CVE-2026-0002" and product "pkg:rpm/a@1", which vulnerabilities[0].product_status.known_affected[0] gives "affected": product ids with one identity, and items with one vulnerability id, must agree',
    },
    {
      name: 'two items with one ids[].text and no cve',
      vulns: [
        { ids: [{ system_name: 'x', text: 'X-1' }], product_status: { known_not_affected: ['A'] } },
        { ids: [{ system_name: 'x', text: 'X-1' }], product_status: { known_affected: ['A'] } },
      ],
      message:
        'CSAF document sha256:conflict: vulnerabilities[1].product_status.known_affected[0] (product "A") gives status "affected" for vulnerability "X-1" and product "pkg:rpm/a@1", which vulnerabilities[0].product_status.known_not_affected[0] gives "not_affected": product ids with one identity, and items with one vulnerability id, must agree',
    },
  ])('fails the document: $name', ({ vulns, message }) => {
    const r = csafVexNormalizer.normalize(csaf(vulns), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(message);
  });

  it('keeps an identical repeat once', () => {
    const r = csafVexNormalizer.normalize(csaf([{ cve: 'CVE-2026-0002', product_status: { fixed: ['A', 'B', 'A'] } }]), ctx);
    expect(r._unsafeUnwrap().map((c) => `${c.productKey}|${c.status}`)).toEqual(['pkg:rpm/a@1|fixed']);
  });
});

describe('openVexNormalizer and two statements about one product', () => {
  it.for([
    ['one spelling of its purl', 'pkg:npm/log@1.0.0'],
    ['two spellings of its purl', 'PKG:NPM/log@1.0.0/'],
  ])('keeps the later statement, as OpenVEX says: %s', ([, later]) => {
    const r = openVexNormalizer.normalize(
      {
        '@context': 'https://openvex.dev/ns/v0.2.0',
        '@id': 'x',
        author: 'a',
        timestamp: '2026-01-01T00:00:00Z',
        version: 1,
        statements: [
          { vulnerability: { name: 'CVE-2026-3' }, products: [{ '@id': 'pkg:npm/log@1.0.0' }], status: 'affected' },
          { vulnerability: { name: 'CVE-2026-3' }, products: [{ '@id': later }], status: 'fixed' },
        ],
      },
      ctx,
    );
    expect(r._unsafeUnwrap().map((c) => `${c.productKey}|${c.status}`)).toEqual([`${later}|fixed`]);
  });
});
