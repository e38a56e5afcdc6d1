/**
 * A small document can ask for far more claim rows than its own bytes: each
 * claim row stores its statement text in full, so one long statement given
 * to every one of many products is written once per product (an OpenVEX
 * document of a few megabytes, 100,000 products and one 1 MB
 * action_statement would be about 100 GB of rows). `maxBatchBytes` bounds
 * the documents' bytes, not their claims'. A document whose claims hold
 * more than `maxClaimBytesPerDocument` bytes of text now fails with
 * `DOCUMENT_INVALID`, naming the cap and how to raise it, on the calling
 * thread and on normalizer threads alike.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT, defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { normalizeDocument, type NormalizableDocument } from '../../../src/statements/normalize.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import type { VexClaim, VexNormalizer } from '../../../src/statements/ports.js';
import { ok } from 'neverthrow';
import { openVexDocument } from './openvex-document.js';

const products = (n: number): string[] => Array.from({ length: n }, (_, i) => `pkg:npm/p${i}@1.0.0`);

/** Each format's document: one vulnerability whose one `note` is the statement of each of `n` products. */
const documents = (note: string, n: number): [string, string][] => [
  [
    'openvex',
    JSON.stringify(
      openVexDocument([
        {
          vulnerability: { name: 'CVE-2026-0001' },
          products: products(n).map((purl) => ({ '@id': purl })),
          status: 'affected',
          action_statement: note,
        },
      ]),
    ),
  ],
  [
    'csaf',
    JSON.stringify({
      document: { csaf_version: '2.0', category: 'csaf_vex' },
      product_tree: {
        full_product_names: products(n).map((purl, i) => ({ product_id: `P${i}`, name: `p${i}`, product_identification_helper: { purl } })),
      },
      vulnerabilities: [
        {
          cve: 'CVE-2026-0001',
          product_status: { known_affected: products(n).map((_, i) => `P${i}`) },
          remediations: [{ category: 'vendor_fix', details: note, product_ids: products(n).map((_, i) => `P${i}`) }],
        },
      ],
    }),
  ],
  [
    'cyclonedx',
    JSON.stringify({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: products(n).map((purl, i) => ({ 'bom-ref': `c${i}`, name: `c${i}`, purl })),
      vulnerabilities: [
        { id: 'CVE-2026-0001', analysis: { state: 'exploitable', detail: note }, affects: products(n).map((_, i) => ({ ref: `c${i}` })) },
      ],
    }),
  ],
];

const doc = (content: string, digest = 'sha256:big'): NormalizableDocument => ({ digest, retrievedAt: new Date(0), content });

const outcome = (r: ReturnType<typeof normalizeDocument>): unknown =>
  r.isOk() ? r.value : { code: r.error.code, message: r.error.message, context: r.error.context };

describe('maxClaimBytesPerDocument', () => {
  it.each(documents('x'.repeat(100_000), 1_000))(
    'fails a %s document whose claims repeat a long statement past the default cap, naming the cap and its option',
    (format, content) => {
      // 1,000 products × 100 kB: about 100 MB of claim text from a document of at most a few hundred kB.
      expect(content.length).toBeLessThan(250_000);
      const r = normalizeDocument(defaultVexNormalizers, doc(content));
      expect(r.isErr()).toBe(true);
      const error = r._unsafeUnwrapErr();
      expect(error.code).toBe('DOCUMENT_INVALID');
      expect(error.message).toContain(
        `document sha256:big: its ${format} claims hold more than ${DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT} bytes`,
      );
      expect(error.message).toContain('maxClaimBytesPerDocument');
      expect(error.message).toContain('--max-claim-bytes');
      expect(error.context).toEqual({ digest: 'sha256:big', maxClaimBytesPerDocument: DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT });
      // A cap above the claims' bytes lets the same document through, one claim per product.
      const raised = normalizeDocument(defaultVexNormalizers, doc(content), 200_000_000);
      expect(raised._unsafeUnwrap().claims).toHaveLength(1_000);
    },
  );

  it.each(documents('a remediation of a few words', 20))('counts every byte of a %s document’s claims against the cap', (_, content) => {
    const claims = normalizeDocument(defaultVexNormalizers, doc(content))._unsafeUnwrap().claims;
    const bytes = claims.reduce(
      (sum, c) =>
        sum +
        [c.status, c.vulnerabilityId, c.productKey, c.justification, c.statement, c.issuedAt, c.documentDigest, c.format]
          .filter((v) => v !== undefined)
          .reduce((n, v) => n + Buffer.byteLength(v as string, 'utf8'), 0),
      0,
    );
    // Exactly at the cap the document goes through; one byte under, it fails.
    expect(outcome(normalizeDocument(defaultVexNormalizers, doc(content), bytes))).toEqual(
      outcome(normalizeDocument(defaultVexNormalizers, doc(content))),
    );
    const under = normalizeDocument(defaultVexNormalizers, doc(content), bytes - 1);
    expect(under._unsafeUnwrapErr().message).toContain(`claims hold more than ${bytes - 1} bytes of text`);
  });

  it("counts a custom normalizer's claims in UTF-8, before their text is checked", () => {
    const claim = (i: number): VexClaim => ({
      vulnerabilityId: 'CVE-2026-0001',
      productKey: `p${i}`,
      status: 'affected',
      statement: 'é'.repeat(1_000),
      documentDigest: 'sha256:custom',
      format: 'custom',
    });
    const custom: VexNormalizer = {
      format: 'custom',
      canNormalize: () => true,
      normalize: () => ok([claim(0), claim(1), claim(2)]),
    };
    const one = 8 + 13 + 2 + 2_000 + 13 + 6;
    const content = doc('{}', 'sha256:custom');
    expect(normalizeDocument([custom], content, 3 * one)._unsafeUnwrap().claims).toHaveLength(3);
    const r = normalizeDocument([custom], content, 3 * one - 1);
    expect(r._unsafeUnwrapErr().message).toContain('by claims[2] of 3; nothing of it was written');
  });

  it('fails the same documents on normalizer threads as on the calling thread, with the cap it is given', async () => {
    await using pool = new NormalizerThreads({ threads: 1 });
    await pool.start();
    const docs = documents('y'.repeat(2_000), 50).flatMap(([, content], f) =>
      Array.from({ length: 16 }, (_, i) => doc(content, `sha256:${f}-${i}`)),
    );
    const cap = 50_000;
    const expected = docs.map((d) => outcome(normalizeDocument(defaultVexNormalizers, d, cap)));
    expect(expected.every((e) => typeof e === 'object' && e !== null && 'code' in e)).toBe(true);
    const before = pool.documentsByThreads;
    for (let calls = 0; calls < 50 && pool.documentsByThreads === before; calls += 1)
      expect((await pool.normalize(docs, cap)).map(outcome)).toEqual(expected);
    // Under the default cap every one of them goes through, there as here.
    expect((await pool.normalize(docs)).map(outcome)).toEqual(docs.map((d) => outcome(normalizeDocument(defaultVexNormalizers, d))));
  });
});
