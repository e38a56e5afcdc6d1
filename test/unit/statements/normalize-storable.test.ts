/**
 * Claims a PostgreSQL text column cannot hold fail their document, whatever
 * normalizer made them: a NUL, or half of a UTF-16 surrogate pair (which
 * node-postgres would send as U+FFFD, merging distinct keys), a time it
 * cannot store, or a key longer than its indexes hold.
 */
import { ok } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import { MAX_CLAIM_KEY_BYTES } from '../../../src/statements/defaults.js';
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

/** The result of normalizing a document whose one claim is `claim` with `field` set to `value`. */
function normalized(field: keyof VexClaim, value: string): ReturnType<typeof normalizeDocument> {
  const normalizer: VexNormalizer = { format: 'custom', canNormalize: () => true, normalize: () => ok([{ ...claim, [field]: value }]) };
  return normalizeDocument([normalizer], { digest: 'sha256:d', retrievedAt: new Date(0), content: {} });
}

/** The outcome of a document whose one claim is `claim` with `field` set to `value`. */
function outcome(field: keyof VexClaim, value: string): { code: string; message: string } | 'ok' {
  const r = normalized(field, value);
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
        'document sha256:d: its custom claim for "CVE-\\ud800" has a lone UTF-16 surrogate in vulnerabilityId, which PostgreSQL text cannot hold.',
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

describe("a custom normalizer's issuedAt", () => {
  it('is stored as UTC to the millisecond, an offset-less one read as UTC whatever the host time zone', () => {
    const saved = process.env['TZ'];
    process.env['TZ'] = 'America/New_York';
    try {
      for (const [given, stored] of [
        ['2025-10-01T02:00:00+02:00', '2025-10-01T00:00:00.000Z'],
        ['2025-10-01T00:00:00', '2025-10-01T00:00:00.000Z'],
        ['2025-10-01', '2025-10-01T00:00:00.000Z'],
        ['2025-10-01T00:00:00.000Z', '2025-10-01T00:00:00.000Z'],
      ] as const) {
        expect(normalized('issuedAt', given)._unsafeUnwrap().claims[0]?.issuedAt, given).toBe(stored);
      }
    } finally {
      if (saved === undefined) delete process.env['TZ'];
      else process.env['TZ'] = saved;
    }
  });

  it('fails its document when it is not a time PostgreSQL can store (it would fail the whole batch, on every resume)', () => {
    for (const value of ['0000-06-01T00:00:00.000Z', '+010000-01-01T00:00:00.000Z', 'yesterday', 'now', '1', '']) {
      expect(outcome('issuedAt', value), value).toEqual({
        code: 'DOCUMENT_INVALID',
        message: `document sha256:d: its custom claim for "CVE-2024-1" has issuedAt ${JSON.stringify(value)}, not an ISO-8601 date-time in the years 0001 to 9999.`,
      });
    }
  });
});

describe('claim keys', () => {
  // documentDigest 'sha256:d' (8 bytes) + vulnerabilityId 'CVE-2024-1' (10 bytes) + productKey.
  const productKeyOf = (bytes: number): string => 'p'.repeat(bytes - 18);

  it(`pass up to ${MAX_CLAIM_KEY_BYTES} bytes (UTF-8) in all, and fail their document past that, naming each field's size and the limit`, () => {
    expect(outcome('productKey', productKeyOf(MAX_CLAIM_KEY_BYTES))).toBe('ok');
    expect(outcome('productKey', productKeyOf(MAX_CLAIM_KEY_BYTES + 1))).toEqual({
      code: 'DOCUMENT_INVALID',
      message: `document sha256:d: its custom claim for "CVE-2024-1" has a key of ${MAX_CLAIM_KEY_BYTES + 1} bytes in UTF-8 (documentDigest 8, vulnerabilityId 10, productKey ${MAX_CLAIM_KEY_BYTES - 17}), over the ${MAX_CLAIM_KEY_BYTES} bytes a statements index entry holds; shorten its product key or vulnerability id.`,
    });
  });

  it('count bytes, not characters, and quote a long vulnerability id cut, so the reason fits in the stored message', () => {
    // 'é' is two bytes in UTF-8.
    expect(outcome('productKey', 'é'.repeat(MAX_CLAIM_KEY_BYTES / 2))).toMatchObject({
      message: expect.stringContaining(`productKey ${MAX_CLAIM_KEY_BYTES}`),
    });
    const failed = outcome('vulnerabilityId', 'V'.repeat(MAX_CLAIM_KEY_BYTES));
    expect(failed).toMatchObject({
      code: 'DOCUMENT_INVALID',
      message: expect.stringContaining(`its custom claim for "${'V'.repeat(79)}…" has a key of`),
    });
    expect(failed === 'ok' ? 0 : failed.message.length).toBeLessThan(500);
  });
});
