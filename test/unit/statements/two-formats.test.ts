/**
 * A document carrying the markers of two VEX formats (a CycloneDX BOM with
 * a `document.csaf_version`, a CSAF document with `bomFormat: "CycloneDX"`,
 * an OpenVEX document with either) is valid in neither: each schema refuses
 * the other's fields. It was read as the first format detection found, so
 * a CycloneDX BOM given a CSAF `document` had its analyses unread and was
 * stored as backfilled without a claim, while a CycloneDX tool reading the
 * same bytes saw an exploitable component. It now fails with
 * DOCUMENT_INVALID, naming the field that marks the second format.
 */
import { describe, expect, it } from 'vitest';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { normalizeDocument } from '../../../src/statements/normalize.js';

const bom = {
  bomFormat: 'CycloneDX',
  specVersion: '1.6',
  components: [{ 'bom-ref': 'log', name: 'log', purl: 'pkg:npm/log@1.0.0' }],
  vulnerabilities: [{ id: 'CVE-2026-0005', analysis: { state: 'exploitable' }, affects: [{ ref: 'log' }] }],
};
const csafDocument = { csaf_version: '2.0', category: 'csaf_vex', title: 't', publisher: {}, tracking: {} };
const openVex = {
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://example.com/vex/2',
  author: 'a',
  timestamp: '2026-01-01T00:00:00Z',
  version: 1,
  statements: [{ vulnerability: { name: 'CVE-2026-0005' }, products: [{ '@id': 'pkg:npm/log@1.0.0' }], status: 'fixed' }],
};

const outcome = (content: unknown): string => {
  const r = normalizeDocument(defaultVexNormalizers, { digest: 'sha256:two', retrievedAt: new Date(0), content: JSON.stringify(content) });
  return r.isOk() ? `${r.value.format}: ${r.value.claims.length} claims` : `${r.error.code}: ${r.error.message}`;
};

describe('a document in two VEX formats', () => {
  it.each([
    [
      'a CycloneDX BOM with a CSAF document',
      { ...bom, document: csafDocument },
      'CSAF document sha256:two: bomFormat marks it as CycloneDX too',
    ],
    [
      'a CSAF document with bomFormat CycloneDX',
      { document: csafDocument, vulnerabilities: [], bomFormat: 'CycloneDX' },
      'CSAF document sha256:two: bomFormat marks it as CycloneDX too',
    ],
    [
      'an OpenVEX document with bomFormat CycloneDX',
      { ...openVex, bomFormat: 'CycloneDX' },
      'OpenVEX document sha256:two: bomFormat marks it as CycloneDX too',
    ],
    [
      'an OpenVEX document with a CSAF document',
      { ...openVex, document: csafDocument },
      'OpenVEX document sha256:two: document.csaf_version marks it as CSAF too',
    ],
  ])('fails: %s', (_, content, start) => {
    expect(outcome(content)).toBe(
      `DOCUMENT_INVALID: ${start}: a document in two formats is valid in neither, and which one it is read as would decide its claims`,
    );
  });

  it('reads each format alone, and one whose other marker is no marker (bomFormat of another case, no csaf_version)', () => {
    expect(outcome(bom)).toBe('cyclonedx: 1 claims');
    expect(outcome(openVex)).toBe('openvex: 1 claims');
    expect(outcome({ ...bom, document: { title: 'not CSAF' } })).toBe('cyclonedx: 1 claims');
    expect(outcome({ ...openVex, bomFormat: 'cyclonedx' })).toBe('openvex: 1 claims');
  });
});
