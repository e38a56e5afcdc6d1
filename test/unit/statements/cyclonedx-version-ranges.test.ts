/**
 * `affects[].versions` of a component whose version the BOM gives: an entry
 * about another version, or a `vers:` range that does not contain the
 * component's version, says nothing about it. Taking such an entry's status
 * as the component's made a wrong claim (an exploitable component claimed
 * not affected because older versions were). Ranges with plain numeric
 * bounds are evaluated; others leave the status unknown.
 */
import { describe, expect, it } from 'vitest';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';
import { versContains } from '../../../src/statements/normalizers/vers.js';

const ctx = { digest: 'sha256:r', retrievedAt: new Date('2025-10-01T00:00:00Z') };
const bom = (state: string, versions: unknown, version: string | null = '4.2.0'): unknown => ({
  bomFormat: 'CycloneDX',
  specVersion: '1.6',
  components: [{ 'bom-ref': 'lib', name: 'lib', ...(version === null ? {} : { version }), purl: 'pkg:generic/lib' }],
  vulnerabilities: [{ id: 'CVE-2026-7', analysis: { state, justification: 'code_not_present' }, affects: [{ ref: 'lib', versions }] }],
});
const statusOf = (doc: unknown): string | undefined => cycloneDxVexNormalizer.normalize(doc, ctx)._unsafeUnwrap()[0]?.status;

describe('CycloneDX affects[].versions ranges', () => {
  it('a range that does not contain the component version does not decide its status', () => {
    // Unaffected only before 2.0: nothing here says what 4.2.0 is.
    expect(statusOf(bom('exploitable', [{ range: 'vers:generic/<2.0', status: 'unaffected' }]))).toBe('under_investigation');
    expect(statusOf(bom('not_affected', [{ range: 'vers:generic/>=5.0.0|<6.0.0', status: 'affected' }]))).toBe('under_investigation');
    // An exact version that is not the component's says nothing about it either.
    expect(statusOf(bom('exploitable', [{ version: '3.9.9', status: 'unaffected' }]))).toBe('under_investigation');
  });

  it('a range that contains the component version decides it', () => {
    expect(statusOf(bom('exploitable', [{ range: 'vers:generic/>=4.0.0|<4.3', status: 'unaffected' }]))).toBe('not_affected');
    expect(
      statusOf(
        bom('exploitable', [
          { range: 'vers:generic/<4.0.0', status: 'unaffected' },
          { range: 'vers:generic/>=4.0.0|<5', status: 'affected' },
        ]),
      ),
    ).toBe('affected');
    expect(statusOf(bom('exploitable', [{ range: 'vers:generic/*', status: 'unaffected' }]))).toBe('not_affected');
  });

  it('a range it cannot evaluate, or containing ranges that disagree, leave it unknown', () => {
    expect(statusOf(bom('exploitable', [{ range: 'vers:npm/>=4.0.0-rc.1', status: 'unaffected' }]))).toBe('under_investigation');
    expect(
      statusOf(
        bom('exploitable', [
          { range: 'vers:generic/>=4.0', status: 'unaffected' },
          { range: 'vers:generic/<5', status: 'affected' },
        ]),
      ),
    ).toBe('under_investigation');
  });

  it('a range whose bound differs from the version only in trailing zeros leaves it unknown, unless its scheme reads them as one', () => {
    // dpkg orders 1.1 before 1.1.0: the deb package at 1.1 is not in this range, and nothing else covers it.
    const deb = (range: string, version: string): unknown => ({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [{ 'bom-ref': 'ssl', name: 'openssl', version, purl: `pkg:deb/debian/openssl@${version}` }],
      vulnerabilities: [
        {
          id: 'CVE-2026-8',
          analysis: { state: 'not_affected', justification: 'code_not_present' },
          affects: [{ ref: 'ssl', versions: [{ range, status: 'affected' }] }],
        },
      ],
    });
    expect(statusOf(deb('vers:deb/>=1.1.0|<1.1.1', '1.1'))).toBe('under_investigation');
    expect(statusOf(deb('vers:deb/>=1.1.0|<1.1.1', '1.1.0.5'))).toBe('not_affected');
    expect(statusOf(deb('vers:pypi/>=1.1.0|<1.1.1', '1.1'))).toBe('not_affected');
  });

  it('a component without a version keeps the one status all entries share', () => {
    expect(statusOf(bom('exploitable', [{ range: 'vers:generic/<2.0', status: 'unaffected' }], null))).toBe('not_affected');
  });
});

describe('versContains', () => {
  it.each([
    ['vers:npm/>=2.0.0|<3.0.0', '2.4.1', true],
    ['vers:npm/>=2.0.0|<3.0.0', '3.0.0', false],
    ['vers:npm/>=2.0.0|<3.0.0', '1.9', false],
    ['vers:npm/<1.0|>=2.0|<=2.5|>3', '0.9', true],
    ['vers:npm/<1.0|>=2.0|<=2.5|>3', '1.5', false],
    ['vers:npm/<1.0|>=2.0|<=2.5|>3', '2.5', true],
    ['vers:npm/<1.0|>=2.0|<=2.5|>3', '3', false],
    ['vers:npm/<1.0|>=2.0|<=2.5|>3', '3.0.1', true],
    ['vers:pypi/1.2.3|2.0.0', '2.0', true],
    ['vers:maven/>=1.0|<2', '1.0.0', true],
    ['vers:nuget/<1.0.0', '1', false],
    ['vers:npm/1.2.3|2.0.0', '2.0.1', false],
    ['vers:npm/!=1.2.3', '1.2.3', false],
    ['vers:npm/>=1|!=1.5|<2', '1.5', false],
    ['vers:npm/>=1|!=1.5|<2', '1.6', true],
    ['vers:npm/*', '9', true],
    ['vers:npm/<2.0.0-rc.1', '1.0.0', undefined],
    ['vers:npm/<2', '1.0.0-beta', undefined],
    ['vers:npm/>=1|>=2', '3', undefined],
    ['vers:npm/<1|<2', '0', undefined],
    ['npm/<2', '1', undefined],
    ['vers:npm/', '1', undefined],
    // Versions that differ only in trailing zeros: one version in PEP 440, Maven, NuGet, RubyGems, Composer; not in dpkg or rpm
    // (`1.1` is before `1.1.0`), nor in semver, which has no `1.1`.
    ['vers:npm/1.2.3|2.0.0', '2.0', undefined],
    ['vers:deb/>=1.1.0|<1.1.1', '1.1', undefined],
    ['vers:rpm/<=1.1', '1.1.0', undefined],
    ['vers:generic/!=2', '2.0', undefined],
    ['vers:deb/>=1.0|<1.0.0', '0.5', undefined],
    ['vers:deb/>=1.1.0|<1.1.1', '1.1.0.1', true],
    ['vers:deb/>=1.1.0|<1.1.1', '1.10', false],
  ])('%s contains %s: %s', (range, version, expected) => {
    expect(versContains(range, version)).toBe(expected);
  });
});

describe('a component whose version and purl name two versions', () => {
  // Keyed by the purl (1.0.0), the claim is about 1.0.0: its status is 1.0.0's, not that of the `version` field's 2.0.0.
  const twoVersions = (versions: unknown): unknown => ({
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    components: [{ 'bom-ref': 'lib', name: 'lib', version: '2.0.0', purl: 'pkg:npm/lib@1.0.0' }],
    vulnerabilities: [{ id: 'CVE-2026-0007', analysis: { state: 'exploitable' }, affects: [{ ref: 'lib', versions }] }],
  });

  it("takes the status of the purl's version, which the claim's key names", () => {
    const claims = cycloneDxVexNormalizer.normalize(
      twoVersions([
        { version: '1.0.0', status: 'affected' },
        { version: '2.0.0', status: 'unaffected' },
      ]),
      ctx,
    );
    expect(claims._unsafeUnwrap().map((c) => [c.productKey, c.status])).toEqual([['pkg:npm/lib@1.0.0', 'affected']]);
    expect(statusOf(twoVersions([{ range: 'vers:npm/>=2.0.0', status: 'unaffected' }]))).toBe('under_investigation');
  });
});
