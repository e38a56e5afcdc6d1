/**
 * A document's content reaches the normalizers as text, as UTF-8 bytes or
 * already parsed, depending on the source's column. Each form must give
 * the same outcome, a leading byte-order mark included.
 */
import { describe, expect, it } from 'vitest';
import { normalizeDocument, type NormalizableDocument } from '../../../src/statements/normalize.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';

const BOM = '\uFEFF';
const [csaf, openvex] = [
  ...generateVexDocuments({ seed: 5, count: 1, brokenRatio: 0, formats: ['csaf'] }),
  ...generateVexDocuments({ seed: 6, count: 1, brokenRatio: 0, formats: ['openvex'] }),
];

function outcome(content: NormalizableDocument['content'], digest: string): unknown {
  const r = normalizeDocument(defaultVexNormalizers, { digest, retrievedAt: new Date(0), content });
  return r.isOk() ? { claims: r.value.claims.length, format: r.value.format } : { code: r.error.code };
}

describe('document content with a byte-order mark', () => {
  for (const [format, doc] of [
    ['csaf', csaf],
    ['openvex', openvex],
  ] as const) {
    if (doc === undefined) throw new Error('the generator gave no document');
    it(`${format}: text and bytes with a leading mark give the outcome of the plain text`, () => {
      const plain = outcome(doc.content, doc.digest);
      expect(plain).toEqual({ claims: doc.expectedClaims, format });
      expect(outcome(BOM + doc.content, doc.digest)).toEqual(plain);
      expect(outcome(new TextEncoder().encode(BOM + doc.content), doc.digest)).toEqual(plain);
    });
  }

  it('two marks, or a mark after the start, fail as invalid JSON as text and as bytes alike', () => {
    const doc = csaf as NonNullable<typeof csaf>;
    for (const text of [BOM + BOM + doc.content, ` ${BOM}${doc.content}`]) {
      expect(outcome(text, doc.digest)).toEqual({ code: 'DOCUMENT_INVALID' });
      expect(outcome(new TextEncoder().encode(text), doc.digest)).toEqual({ code: 'DOCUMENT_INVALID' });
    }
  });
});
