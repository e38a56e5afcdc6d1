/**
 * `analysis.state` is looked up among CycloneDX's states only: a state named
 * like a property every JavaScript object has (`constructor`, `toString`,
 * `__proto__`) is as unknown as any other word.
 */
import { describe, expect, it } from 'vitest';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { normalizeDocument } from '../../../src/statements/normalize.js';

const retrievedAt = new Date('2025-10-01T00:00:00Z');

const bom = (state: string, affects: unknown[]): string =>
  JSON.stringify({
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    components: [{ 'bom-ref': 'app', purl: 'pkg:npm/app@1' }],
    vulnerabilities: [{ id: 'CVE-2025-1', analysis: { state }, affects }],
  });

const expected =
  'CycloneDX document sha256:s: vulnerabilities[0].analysis.state must be one of resolved, resolved_with_pedigree, exploitable, in_triage, false_positive, not_affected';

describe('cycloneDxVexNormalizer and analysis states named like object properties', () => {
  for (const state of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    it(`refuses state ${JSON.stringify(state)} with an affected product, naming the field`, () => {
      const r = normalizeDocument(defaultVexNormalizers, { digest: 'sha256:s', retrievedAt, content: bom(state, [{ ref: 'app' }]) });
      expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
      expect(r.isErr() && r.error.message).toBe(expected);
    });

    it(`refuses state ${JSON.stringify(state)} without affected products, as any unknown state`, () => {
      const r = cycloneDxVexNormalizer.normalize(JSON.parse(bom(state, [])), { digest: 'sha256:s', retrievedAt });
      expect(r.isErr() && r.error.message).toBe(expected);
    });
  }
});
