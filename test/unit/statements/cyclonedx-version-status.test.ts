/**
 * `affects[].versions[].status` is one of CycloneDX's affected statuses
 * (`affected` when absent or null), looked up among them only; anything
 * else fails the document naming the field.
 */
import { describe, expect, it } from 'vitest';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';

const ctx = { digest: 'sha256:v', retrievedAt: new Date('2025-10-01T00:00:00Z') };
const bom = (versions: unknown): unknown => ({
  bomFormat: 'CycloneDX',
  specVersion: '1.6',
  components: [{ 'bom-ref': 'app', version: '1', purl: 'pkg:npm/app@1' }],
  vulnerabilities: [{ id: 'CVE-2025-1', analysis: { state: 'exploitable' }, affects: [{ ref: 'app', versions }] }],
});

describe('cycloneDxVexNormalizer and affects[].versions', () => {
  for (const status of ['maybe', 'constructor', '', 7]) {
    it(`refuses status ${JSON.stringify(status)}`, () => {
      const r = cycloneDxVexNormalizer.normalize(bom([{ version: '1', status }]), ctx);
      expect(r.isErr() && r.error.message).toBe(
        'CycloneDX document sha256:v: vulnerabilities[0].affects[0].versions[0].status must be one of affected, unaffected, unknown',
      );
    });
  }

  it('refuses versions that are not a list, or an entry that is not an object', () => {
    const notList = cycloneDxVexNormalizer.normalize(bom({ version: '1' }), ctx);
    expect(notList.isErr() && notList.error.message).toMatch(/affects\[0\]\.versions must be an array$/);
    const notObject = cycloneDxVexNormalizer.normalize(bom(['1']), ctx);
    expect(notObject.isErr() && notObject.error.message).toMatch(/affects\[0\]\.versions\[0\] is not an object$/);
  });

  it('reads an absent or null status as affected, and no versions as the analysis alone', () => {
    for (const versions of [[{ version: '1' }], [{ version: '1', status: null }], [], null, undefined]) {
      const r = cycloneDxVexNormalizer.normalize(bom(versions), ctx);
      expect(r._unsafeUnwrap().map((c) => c.status)).toEqual(['affected']);
    }
  });
});
