/**
 * A pre-0.2 OpenVEX statement's subcomponents are claimed within each of
 * its products: products × subcomponents claims. A document of a few
 * hundred kilobytes listing thousands of each asked for millions of claims
 * (3,000 × 3,000 took nearly a minute and 2.7 GB of heap; a few more ran
 * the process out of memory, on every resume). Past
 * MAX_SUBCOMPONENT_CLAIMS such pairs in one document, the document fails on
 * its own instead, before any claim is built.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SUBCOMPONENT_CLAIMS } from '../../../src/statements/defaults.js';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';
import { stepsOf } from '../../support/work-count.js';

const ctx = { digest: 'sha256:pairs', retrievedAt: new Date('2025-10-01T00:00:00Z') };

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `pkg:npm/${prefix}${i}@1.0.0`);
const statement = (products: number, subcomponents: number, vulnerability = 'CVE-2024-0001') => ({
  vulnerability,
  status: 'not_affected',
  justification: 'vulnerable_code_not_present',
  products: names('app', products),
  subcomponents: names('lib', subcomponents),
});
const document = (...statements: unknown[]): unknown => ({
  '@context': 'https://openvex.dev/ns',
  '@id': 'https://example.com/vex/pairs',
  timestamp: '2023-01-16T20:41:55Z',
  statements,
});

describe('openVexNormalizer and many pre-0.2 subcomponents', () => {
  it(`claims up to ${MAX_SUBCOMPONENT_CLAIMS.toLocaleString('en')} product::subcomponent pairs in a document`, () => {
    const claims = openVexNormalizer.normalize(document(statement(250, 200), statement(200, 250, 'CVE-2024-0002')), ctx)._unsafeUnwrap();
    expect(claims).toHaveLength(MAX_SUBCOMPONENT_CLAIMS);
  });

  it('fails a document past that, naming the statement that crosses it, before building its claims', () => {
    const doc = document(statement(3_000, 3_000));
    const { result: one, steps } = stepsOf(() => openVexNormalizer.normalize(doc, ctx));
    // Refused before the pairs are built: steps in proportion to the 6,000 names, not to the 9 million pairs (counted, not timed).
    expect(steps).toBeLessThan(100 * 6_000);
    expect(one.isErr() && one.error.code).toBe('DOCUMENT_INVALID');
    expect(one.isErr() && one.error.message).toBe(
      `OpenVEX document sha256:pairs: statements[0].subcomponents make more than ${MAX_SUBCOMPONENT_CLAIMS} product::subcomponent claims in the document (3000 products × 3000 subcomponents here)`,
    );
    const summed = openVexNormalizer.normalize(
      document(statement(250, 200), statement(1, 1, 'CVE-2024-0002'), statement(200, 251, 'CVE-2024-0003')),
      ctx,
    );
    expect(summed.isErr() && summed.error.message).toMatch(/^OpenVEX document sha256:pairs: statements\[2\]\.subcomponents make more than/);
  });

  it("does not count a 0.2.0 product's own subcomponents, which the document lists one by one", () => {
    const products = names('app', 400).map((id) => ({ '@id': id, subcomponents: names('lib', 300).map((sub) => ({ '@id': sub })) }));
    const claims = openVexNormalizer
      .normalize(document({ vulnerability: 'CVE-2024-0001', status: 'fixed', products }), ctx)
      ._unsafeUnwrap();
    expect(claims).toHaveLength(120_000);
  });
});
