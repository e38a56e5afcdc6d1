/**
 * A product key longer than a claim's key may be (MAX_CLAIM_KEY_BYTES) fails
 * its document. The built-in normalizers used to build every claim first,
 * and the key was refused only afterwards: one purl of a megabyte named by
 * thousands of vulnerabilities was read, compared and joined into a lookup
 * key once per claim, seconds of a thread's time per thousand claims for a
 * document that fails anyway (a CycloneDX BOM of 1.3 MB took 19 s). Each
 * normalizer now refuses the first claim whose vulnerability id and product
 * key are together longer than that many characters (so longer in UTF-8
 * too), naming its place, before any work on the key.
 */
import { describe, expect, it } from 'vitest';
import { MAX_CLAIM_KEY_BYTES } from '../../../src/statements/defaults.js';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';
import type { VexNormalizer } from '../../../src/statements/ports.js';

const ctx = { digest: 'sha256:long', retrievedAt: new Date('2026-01-01T00:00:00Z') };
const cves = (n: number): string[] => Array.from({ length: n }, (_, i) => `CVE-2026-${10000 + i}`);

/** Each format's document: `purl` named by `n` vulnerabilities (OpenVEX: by its @id, after the statement giving it). */
const documents = (purl: string, n: number): [string, VexNormalizer, unknown][] => [
  [
    'CycloneDX',
    cycloneDxVexNormalizer,
    {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [{ 'bom-ref': 'c', name: 'c', purl }],
      vulnerabilities: cves(n).map((id) => ({ id, analysis: { state: 'exploitable' }, affects: [{ ref: 'c' }] })),
    },
  ],
  [
    'CSAF',
    csafVexNormalizer,
    {
      document: { csaf_version: '2.0', category: 'csaf_vex' },
      product_tree: { full_product_names: [{ product_id: 'P', name: 'p', product_identification_helper: { purl } }] },
      vulnerabilities: cves(n).map((cve) => ({ cve, product_status: { fixed: ['P'] } })),
    },
  ],
  [
    'OpenVEX',
    openVexNormalizer,
    {
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'https://example.com/vex/3',
      author: 'a',
      timestamp: '2026-01-01T00:00:00Z',
      version: 1,
      statements: cves(n).map((name) => ({ vulnerability: { name }, products: ['c'], status: 'fixed' })),
    },
  ],
];

/** The OpenVEX document with the statement giving @id `c` its purl, last: the claims before it name `c` alone. */
const openVexWithPurl = (doc: unknown, purl: string): unknown => {
  const d = doc as { statements: object[] };
  return {
    ...d,
    statements: [
      ...d.statements,
      { vulnerability: { name: 'CVE-2026-1' }, products: [{ '@id': 'c', identifiers: { purl } }], status: 'fixed' },
    ],
  };
};

describe('a product key longer than a claim key may be', () => {
  const purl = (length: number): string => `pkg:generic/c@${'1'.repeat(length - 'pkg:generic/c@'.length)}`;
  const places = {
    CycloneDX: 'vulnerabilities[0].affects[0]',
    CSAF: 'vulnerabilities[0].product_status.fixed[0]',
    OpenVEX: 'statements[0].products[0]',
  };

  it.each(documents(purl(MAX_CLAIM_KEY_BYTES), 3))(
    '%s: is refused by the normalizer at its first claim, naming the place',
    (format, normalizer, doc) => {
      const key = purl(MAX_CLAIM_KEY_BYTES);
      const r = normalizer.normalize(format === 'OpenVEX' ? openVexWithPurl(doc, key) : doc, ctx);
      expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
      expect(r.isErr() && r.error.message).toBe(
        `${format} document sha256:long: ${places[format as keyof typeof places]} makes a claim for "CVE-2026-10000" whose key would have at least ${MAX_CLAIM_KEY_BYTES + 14} bytes in UTF-8 (vulnerabilityId 14, productKey ${MAX_CLAIM_KEY_BYTES} characters), over the ${MAX_CLAIM_KEY_BYTES} bytes a statements index entry holds; shorten its product key or vulnerability id`,
      );
    },
  );

  it.each(documents(purl(MAX_CLAIM_KEY_BYTES - 14), 3))(
    '%s: passes the normalizer at the limit in characters',
    (format, normalizer, doc) => {
      const r = normalizer.normalize(format === 'OpenVEX' ? openVexWithPurl(doc, purl(MAX_CLAIM_KEY_BYTES - 14)) : doc, ctx);
      expect(r.isOk() && r.value.length).toBe(format === 'OpenVEX' ? 4 : 3);
    },
  );

  it.each(documents(purl(1_000_000), 2_000))(
    '%s: a megabyte key named by 2,000 vulnerabilities fails at once',
    (format, normalizer, doc) => {
      const r = normalizer.normalize(format === 'OpenVEX' ? openVexWithPurl(doc, purl(1_000_000)) : doc, ctx);
      expect(r.isErr() && r.error.message).toContain(
        `${places[format as keyof typeof places]} makes a claim for "CVE-2026-10000" whose key would have at least 1000014 bytes`,
      );
    },
  );
});
