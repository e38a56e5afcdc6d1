/**
 * A package URL may hold a long run of slashes (`pkg:npm/` and a megabyte
 * of `/` before a name): the Package URL specification drops empty
 * segments, and so does the reading here. Its trailing slashes were cut by
 * the pattern `/\/+$/`, which backtracks quadratically over a run of slashes
 * that is not at the end: one such purl in a document took minutes of a
 * thread's time (100,000 slashes took over 10 s, and each tenfold more a
 * hundredfold), holding the backfill up. The run is now read in time
 * proportional to its length. Nothing here reads a clock: the test's own
 * time limit, hundreds of times what the reading takes, is what the old
 * reading ran past.
 */
import { describe, expect, it } from 'vitest';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';
import { purlIdentity } from '../../../src/statements/normalizers/purl.js';

const SLASHES = '/'.repeat(300_000);
const ctx = { digest: 'sha256:slashes', retrievedAt: new Date('2026-01-01T00:00:00Z') };

describe('package URLs with a long run of slashes', () => {
  it('read as the purl without the empty segments', { timeout: 30_000 }, () => {
    expect(purlIdentity(`pkg:npm/${SLASHES}left-pad@1.3.0`)).toBe('pkg:npm/left-pad@1.3.0');
    expect(purlIdentity(`pkg:npm/left-pad@1.3.0${SLASHES}`)).toBe('pkg:npm/left-pad@1.3.0');
  });

  it('in a CycloneDX component no claim names, are read for its version at once', { timeout: 30_000 }, () => {
    const bom = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: [
        { 'bom-ref': 'pad', name: 'left-pad', purl: 'pkg:npm/left-pad' },
        // Every component's version is read (a bom-ref given twice must agree), named by a claim or not.
        { 'bom-ref': 'other', name: 'other', purl: `pkg:npm/${SLASHES}other${SLASHES}x` },
      ],
      vulnerabilities: [
        {
          id: 'CVE-2026-0006',
          analysis: { state: 'exploitable' },
          affects: [{ ref: 'pad', versions: [{ range: 'vers:npm/>=1.0.0|<2.0.0', status: 'unaffected' }] }],
        },
      ],
    };
    const claims = cycloneDxVexNormalizer.normalize(bom, ctx)._unsafeUnwrap();
    // No version: the one status every entry shares.
    expect(claims.map((c) => [c.productKey, c.status])).toEqual([['pkg:npm/left-pad', 'not_affected']]);
  });
});
