/**
 * Before OpenVEX 0.2.0 a statement listed its products and subcomponents as
 * two lists of strings side by side: the status is about those
 * subcomponents within each product, not about the products as a whole.
 */
import { describe, expect, it } from 'vitest';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';

const ctx = { digest: 'sha256:ov', retrievedAt: new Date('2025-10-01T00:00:00Z') };

const document = (statement: Record<string, unknown>): unknown => ({
  '@context': 'https://openvex.dev/ns',
  '@id': 'https://example.com/vex/1',
  author: 'someone',
  timestamp: '2023-01-16T20:41:55Z',
  statements: [{ vulnerability: 'CVE-2023-1', status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path', ...statement }],
});

describe('openVexNormalizer and the pre-0.2 statement subcomponents', () => {
  it('claims each subcomponent within each product, not the products', () => {
    const claims = openVexNormalizer
      .normalize(
        document({
          products: ['pkg:oci/app@sha256:aa', 'pkg:oci/app@sha256:bb'],
          subcomponents: ['pkg:npm/lodash@4.17.20', 'pkg:npm/qs@6.5.2'],
        }),
        ctx,
      )
      ._unsafeUnwrap();
    expect(claims.map((c) => c.productKey)).toEqual([
      'pkg:oci/app@sha256:aa::pkg:npm/lodash@4.17.20',
      'pkg:oci/app@sha256:aa::pkg:npm/qs@6.5.2',
      'pkg:oci/app@sha256:bb::pkg:npm/lodash@4.17.20',
      'pkg:oci/app@sha256:bb::pkg:npm/qs@6.5.2',
    ]);
  });

  it('keeps a 0.2.0 product’s own subcomponents, and a product without any whole', () => {
    const claims = openVexNormalizer
      .normalize(
        document({ products: [{ '@id': 'pkg:oci/app@sha256:aa', subcomponents: [{ '@id': 'pkg:npm/qs@6.5.2' }] }, 'pkg:oci/b'] }),
        ctx,
      )
      ._unsafeUnwrap();
    expect(claims.map((c) => c.productKey)).toEqual(['pkg:oci/app@sha256:aa::pkg:npm/qs@6.5.2', 'pkg:oci/b']);
  });

  it('fails a statement whose subcomponents are not a list, or name nothing, naming the field', () => {
    const notList = openVexNormalizer.normalize(document({ products: ['pkg:oci/a'], subcomponents: 'pkg:npm/qs@6.5.2' }), ctx);
    expect(notList.isErr() && notList.error.message).toBe('OpenVEX document sha256:ov: statements[0].subcomponents must be an array');
    const blank = openVexNormalizer.normalize(document({ products: ['pkg:oci/a'], subcomponents: ['pkg:npm/qs@6.5.2', ' '] }), ctx);
    expect(blank.isErr() && blank.error.message).toBe(
      'OpenVEX document sha256:ov: statements[0].subcomponents[1] has no @id or identifiers',
    );
  });
});
