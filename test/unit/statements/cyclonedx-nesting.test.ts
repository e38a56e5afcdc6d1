/**
 * CycloneDX components at any depth are indexed without recursion, so how
 * deep a BOM may nest does not depend on the stack of the thread that
 * normalizes it.
 */
import { describe, expect, it } from 'vitest';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';

const ctx = { digest: 'sha256:bom', retrievedAt: new Date('2025-10-01T00:00:00Z') };

/** A BOM whose one vulnerability affects `ref-leaf`, placed by the caller into `components`. */
const bom = (components: unknown[]): unknown => ({
  bomFormat: 'CycloneDX',
  specVersion: '1.5',
  components,
  vulnerabilities: [{ id: 'CVE-1', analysis: { state: 'not_affected' }, affects: [{ ref: 'ref-leaf' }] }],
});

describe('cycloneDxVexNormalizer and nested components', () => {
  it('resolves a ref 50,000 levels down on the calling thread', () => {
    let component: unknown = { 'bom-ref': 'ref-leaf', purl: 'pkg:npm/leaf@1' };
    for (let d = 0; d < 50_000; d += 1) component = { 'bom-ref': `r${d}`, components: [component] };
    const claims = cycloneDxVexNormalizer.normalize(bom([component]), ctx)._unsafeUnwrap();
    expect(claims.map((c) => c.productKey)).toEqual(['pkg:npm/leaf@1']);
  });

  it('fails two components with one bom-ref that resolve differently, naming both places, a nested one first', () => {
    const nested = { 'bom-ref': 'outer', components: [{ 'bom-ref': 'ref-leaf', purl: 'pkg:npm/first@1' }] };
    const r = cycloneDxVexNormalizer.normalize(bom([nested, { 'bom-ref': 'ref-leaf', purl: 'pkg:npm/second@1' }]), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(
      'CycloneDX document sha256:bom: components[1] has bom-ref "ref-leaf", which components[0].components[0] has too, as "pkg:npm/first@1" version "1" and here as "pkg:npm/second@1" version "1": a bom-ref names one component within a BOM',
    );
  });

  it('fails one bom-ref for the metadata component and a listed one at another version, even when no vulnerability names it', () => {
    const doc = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      metadata: { component: { 'bom-ref': 'app', name: 'app', version: '1.0' } },
      components: [{ 'bom-ref': 'app', name: 'app', version: '2.0' }],
    };
    const r = cycloneDxVexNormalizer.normalize(doc, ctx);
    expect(r.isErr() && r.error.message).toBe(
      'CycloneDX document sha256:bom: components[0] has bom-ref "app", which metadata.component has too, as "app" version "1.0" and here as "app" version "2.0": a bom-ref names one component within a BOM',
    );
  });

  it('keeps one component given twice under one bom-ref, whatever else the two copies say, and under two spellings of its purl', () => {
    const leaf = { 'bom-ref': 'ref-leaf', name: 'leaf', purl: 'pkg:npm/leaf@1' };
    const again = { 'bom-ref': 'ref-leaf', name: 'leaf', description: 'listed again', purl: 'PKG:NPM/leaf@1' };
    const claims = cycloneDxVexNormalizer.normalize(bom([{ 'bom-ref': 'outer', components: [leaf] }, again]), ctx)._unsafeUnwrap();
    expect(claims.map((c) => c.productKey)).toEqual(['pkg:npm/leaf@1']);
  });

  it('resolves refs to nested services, tools and formulation components, and checks them for a duplicate bom-ref', () => {
    const doc = (extra: Record<string, unknown>): unknown => ({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      services: [{ 'bom-ref': 'api', name: 'api', services: [{ 'bom-ref': 'auth', name: 'auth', version: '2' }] }],
      metadata: { tools: { components: [{ 'bom-ref': 'scanner', purl: 'pkg:npm/scanner@3' }] } },
      formulation: [{ 'bom-ref': 'build', components: [{ 'bom-ref': 'cc', purl: 'pkg:generic/cc@9' }] }],
      vulnerabilities: ['auth', 'scanner', 'cc'].map((ref, i) => ({
        id: `CVE-${i}`,
        analysis: { state: 'not_affected' },
        affects: [{ ref, versions: [{ version: ref === 'auth' ? '2' : '0', status: 'unaffected' }] }],
      })),
      ...extra,
    });
    const claims = cycloneDxVexNormalizer.normalize(doc({}), ctx)._unsafeUnwrap();
    // auth's own version (2) is listed unaffected; the others' versions (3, 9) are not covered: unknown.
    expect(claims.map((c) => [c.productKey, c.status])).toEqual([
      ['auth', 'not_affected'],
      ['pkg:npm/scanner@3', 'under_investigation'],
      ['pkg:generic/cc@9', 'under_investigation'],
    ]);
    const r = cycloneDxVexNormalizer.normalize(doc({ components: [{ 'bom-ref': 'auth', name: 'auth', version: '3' }] }), ctx);
    expect(r.isErr() && r.error.message).toBe(
      'CycloneDX document sha256:bom: services[0].services[0] has bom-ref "auth", which components[0] has too, as "auth" version "3" and here as "auth" version "2": a bom-ref names one component within a BOM',
    );
  });

  it('fails a parsed document whose components loop (not possible from JSON text) instead of walking forever', () => {
    const looping = { 'bom-ref': 'loop', components: [] as unknown[] };
    looping.components.push(looping);
    const r = cycloneDxVexNormalizer.normalize(bom([looping]), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe('CycloneDX document sha256:bom: components nest deeper than 100000 levels');
  });
});
