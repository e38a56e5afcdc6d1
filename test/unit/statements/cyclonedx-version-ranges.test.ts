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
    ['vers:npm/1.2.3|2.0.0', '2.0', true],
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
  ])('%s contains %s: %s', (range, version, expected) => {
    expect(versContains(range, version)).toBe(expected);
  });
});
