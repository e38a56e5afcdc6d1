/**
 * Claims a PostgreSQL text column cannot hold fail their document, whatever
 * normalizer made them: a NUL, or half of a UTF-16 surrogate pair (which
 * node-postgres would send as U+FFFD, merging distinct keys).
 */
import { ok } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import { normalizeDocument, storableText } from '../../../src/statements/normalize.js';
import type { VexClaim, VexNormalizer } from '../../../src/statements/ports.js';

const claim: VexClaim = {
  vulnerabilityId: 'CVE-2024-1',
  productKey: 'pkg:npm/a@1',
  status: 'not_affected',
  justification: 'component_not_present',
  statement: 'not shipped',
  issuedAt: '2025-10-01T00:00:00.000Z',
  documentDigest: 'sha256:d',
  format: 'custom',
};

/** The outcome of a document whose one claim is `claim` with `field` set to `value`. */
function outcome(field: keyof VexClaim, value: string): { code: string; message: string } | 'ok' {
  const normalizer: VexNormalizer = { format: 'custom', canNormalize: () => true, normalize: () => ok([{ ...claim, [field]: value }]) };
  const r = normalizeDocument([normalizer], { digest: 'sha256:d', retrievedAt: new Date(0), content: {} });
  return r.isOk() ? 'ok' : { code: r.error.code, message: r.error.message };
}

const TEXT_FIELDS = ['vulnerabilityId', 'productKey', 'justification', 'statement', 'issuedAt', 'documentDigest', 'format'] as const;

describe('claims PostgreSQL text cannot hold', () => {
  for (const field of TEXT_FIELDS) {
    it(`fail their document for a lone surrogate or a NUL in ${field}`, () => {
      for (const lone of ['x\ud800', '\udc00x', 'x\ude00\ud83d']) {
        expect(outcome(field, lone)).toEqual({
          code: 'DOCUMENT_INVALID',
          message: expect.stringContaining(`has a lone UTF-16 surrogate in ${field}, which PostgreSQL text cannot hold.`),
        });
      }
      expect(outcome(field, 'x\u0000')).toEqual({
        code: 'DOCUMENT_INVALID',
        message: expect.stringContaining(`has a NUL character (\\u0000) in ${field}, which PostgreSQL text cannot hold.`),
      });
    });
  }

  it('name the claim with its id quoted, so that the message itself can be stored', () => {
    const failed = outcome('vulnerabilityId', 'CVE-\ud800');
    expect(failed).toEqual({
      code: 'DOCUMENT_INVALID',
      message:
        'document sha256:d: a custom claim for "CVE-\\ud800" has a lone UTF-16 surrogate in vulnerabilityId, which PostgreSQL text cannot hold.',
    });
  });

  it('keep well-formed pairs and U+FFFD itself', () => {
    expect(outcome('productKey', 'pkg:\ud83d\ude00')).toBe('ok');
    expect(outcome('statement', '\ufffd')).toBe('ok');
  });
});

describe('failure messages', () => {
  const LONE = /\p{Surrogate}/u;

  it('are kept as PostgreSQL text holds them: NUL and lone surrogates as U+FFFD', () => {
    expect(storableText('a\u0000b\ud800c\udc00d\ud83d\ude00', 100)).toBe('a\ufffdb\ufffdc\ufffdd\ud83d\ude00');
  });

  it('are cut without splitting a surrogate pair, wherever the cut falls', () => {
    for (let pad = 0; pad < 4; pad += 1) {
      const message = `${'x'.repeat(pad)}${'\ud83d\ude00'.repeat(10)}`;
      const cut = storableText(message, 8);
      expect(LONE.test(cut), JSON.stringify(cut)).toBe(false);
      expect(cut.length).toBeLessThanOrEqual(8);
      expect(cut.endsWith('…')).toBe(true);
      expect(message.startsWith(cut.slice(0, -1))).toBe(true);
    }
    expect(storableText('short', 8)).toBe('short');
  });
});
