import { describe, expect, it } from 'vitest';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { detectVexFormat } from '../../../src/statements/detect.js';

describe('generateVexDocuments', () => {
  const docs = [...generateVexDocuments({ seed: 11, count: 3000, brokenRatio: 0.1 })];

  it('is deterministic per seed and differs across seeds', () => {
    const again = [...generateVexDocuments({ seed: 11, count: 3000, brokenRatio: 0.1 })];
    expect(again.map((d) => d.digest)).toEqual(docs.map((d) => d.digest));
    const other = [...generateVexDocuments({ seed: 12, count: 50 })];
    expect(other[0]?.digest).not.toBe(docs[0]?.digest);
  });

  it('mixes all three formats and every kind of broken document, with unique digests and ascending retrievedAt', () => {
    const kinds = new Set(docs.map((d) => d.kind));
    expect(kinds).toEqual(new Set(['openvex', 'csaf', 'cyclonedx', 'broken']));
    expect(new Set(docs.filter((d) => d.broken).map((d) => d.broken)).size).toBe(6);
    expect(new Set(docs.map((d) => d.digest)).size).toBe(docs.length);
    for (let i = 1; i < docs.length; i += 1)
      expect(docs[i]!.retrievedAt.getTime()).toBeGreaterThanOrEqual(docs[i - 1]!.retrievedAt.getTime());
  });

  it('valid documents normalize to the claims counted by construction; broken ones fail with their code', () => {
    for (const d of docs) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(d.content);
      } catch {
        expect(d.expectedCode).toBe('DOCUMENT_INVALID');
        continue;
      }
      const normalizer = defaultVexNormalizers.find((n) => n.canNormalize(parsed));
      if (d.kind !== 'broken') expect(detectVexFormat(parsed)).toBe(d.kind);
      if (normalizer === undefined) {
        expect(d.expectedCode).toBe('NO_NORMALIZER');
        continue;
      }
      const r = normalizer.normalize(parsed, { digest: d.digest, retrievedAt: d.retrievedAt });
      if (d.kind === 'broken') {
        expect(r.isErr() && r.error.code).toBe(d.expectedCode);
      } else {
        const claims = r._unsafeUnwrap();
        expect(new Set(claims.map((c) => `${c.vulnerabilityId} ${c.productKey}`)).size).toBe(d.expectedClaims);
        expect(claims.length).toBe(d.expectedClaims);
      }
    }
  });

  it('large documents: the formats asked for, with the products and vulnerabilities asked for, normalizing to their counted claims', () => {
    const heavy = [
      ...generateVexDocuments({
        seed: 5,
        count: 40,
        brokenRatio: 0,
        formats: ['openvex', 'csaf'],
        productsPerDocument: 120,
        vulnerabilitiesPerDocument: 3,
      }),
    ];
    expect(new Set(heavy.map((d) => d.kind))).toEqual(new Set(['openvex', 'csaf']));
    for (const d of heavy) {
      const parsed = JSON.parse(d.content) as {
        statements?: { products: unknown[] }[];
        vulnerabilities?: unknown[];
        product_tree?: { branches: { branches: unknown[] }[] };
      };
      if (d.kind === 'openvex') {
        expect(parsed.statements).toHaveLength(3);
        for (const st of parsed.statements!) expect(st.products).toHaveLength(120);
      } else {
        expect(parsed.vulnerabilities).toHaveLength(3);
        expect(parsed.product_tree!.branches[0]!.branches).toHaveLength(120);
      }
      const claims = defaultVexNormalizers
        .find((n) => n.canNormalize(parsed))!
        .normalize(parsed, { digest: d.digest, retrievedAt: d.retrievedAt })
        ._unsafeUnwrap();
      expect(claims.length).toBe(d.expectedClaims);
      expect(d.expectedClaims).toBeGreaterThan(200);
    }
    const sparse = [
      ...generateVexDocuments({
        seed: 6,
        count: 20,
        brokenRatio: 0,
        formats: ['csaf'],
        productsPerDocument: 300,
        vulnerabilitiesPerDocument: 2,
        statusedProductsPerVulnerability: 4,
      }),
    ];
    for (const d of sparse) {
      const parsed = JSON.parse(d.content) as { product_tree: { branches: { branches: unknown[] }[] } };
      expect(parsed.product_tree.branches[0]!.branches).toHaveLength(300);
      expect(d.expectedClaims).toBe(8);
      expect(
        defaultVexNormalizers
          .find((n) => n.canNormalize(parsed))!
          .normalize(parsed, { digest: d.digest, retrievedAt: d.retrievedAt })
          ._unsafeUnwrap(),
      ).toHaveLength(8);
    }
    // The default corpus is unchanged by the new options.
    expect(
      [...generateVexDocuments({ seed: 11, count: 3000, brokenRatio: 0.1, formats: ['openvex', 'csaf', 'cyclonedx'] })].map(
        (d) => d.digest,
      ),
    ).toEqual(docs.map((d) => d.digest));
  });
});
