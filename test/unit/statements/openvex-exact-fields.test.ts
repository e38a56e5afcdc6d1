/**
 * OpenVEX fields read as the specification writes them: `@context` is the
 * OpenVEX context URL (`https://openvex.dev/ns/v0.2.0`, or the bare `…/ns`
 * of earlier documents), not any text that starts alike; a status is one of
 * four exact words; and a statement's or document's timestamp that cannot
 * be read fails the document: statements are ordered by time, and taking
 * the document's time instead changed which statement was a product's
 * claim, silently.
 */
import { describe, expect, it } from 'vitest';
import { detectVexFormat } from '../../../src/statements/detect.js';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';

const ctx = { digest: 'sha256:exact', retrievedAt: new Date('2026-01-01T00:00:00Z') };
const product = [{ '@id': 'pkg:npm/a@1.0.0' }];
const doc = (statements: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://example.com/vex/1',
  timestamp: '2024-06-01T00:00:00Z',
  statements,
  ...extra,
});
const message = (document: unknown): string | undefined => {
  const r = openVexNormalizer.normalize(document, ctx);
  return r.isErr() ? r.error.message : undefined;
};

describe('detectVexFormat and the OpenVEX @context', () => {
  it.each([
    'https://openvex.dev/ns/v0.2.0',
    'https://openvex.dev/ns/v0.0.1',
    'https://openvex.dev/ns',
    'https://openvex.dev/ns/v1.0.0-rc.1',
  ])('takes %j as OpenVEX', (context) => expect(detectVexFormat(doc([], { '@context': context }))).toBe('openvex'));

  it.each([
    'https://openvex.dev/nsX',
    'https://openvex.dev/ns-evil/v0.2.0',
    'https://openvex.dev/ns/v0.2.0/../../other',
    'https://openvex.dev/nsv0.2.0',
    'https://openvex.dev/ns/latest',
  ])('does not take %j as OpenVEX', (context) => {
    expect(detectVexFormat(doc([], { '@context': context }))).toBeUndefined();
    expect(openVexNormalizer.canNormalize(doc([], { '@context': context }))).toBe(false);
  });
});

describe('openVexNormalizer and a status with spaces around it', () => {
  it.each([' affected ', 'affected\n', '\tfixed'])('fails the document for %j', (status) => {
    expect(message(doc([{ vulnerability: { name: 'CVE-2024-1234' }, products: product, status }]))).toBe(
      'OpenVEX document sha256:exact: statements[0].status must be one of not_affected, affected, fixed, under_investigation',
    );
  });
});

describe('openVexNormalizer and a timestamp it cannot read', () => {
  const fixedLater = { vulnerability: { name: 'CVE-2024-1234' }, products: product, status: 'fixed' };
  const affectedEarlier = (timestamp: unknown) => ({ ...fixedLater, status: 'affected', timestamp });

  it('fails the document when a statement gives one, instead of taking the document time (which made it the later statement)', () => {
    // Read as the document's 2024-06-01, the affected statement would win over the fixed one of the same day given before it.
    expect(message(doc([fixedLater, affectedEarlier('2024-13-01T00:00:00Z')]))).toBe(
      'OpenVEX document sha256:exact: statements[1].timestamp is "2024-13-01T00:00:00Z", not an RFC 3339 date-time in the years 0001 to 9999: OpenVEX orders statements by their times, so which one is a product\'s claim would be a guess; correct it, or leave it out',
    );
    expect(message(doc([fixedLater, affectedEarlier(20240101)]))).toContain(
      'statements[1].timestamp is a number, not an RFC 3339 date-time',
    );
  });

  it('fails the document when the document gives one', () => {
    expect(message(doc([fixedLater], { timestamp: 'yesterday' }))).toContain(
      'sha256:exact: timestamp is "yesterday", not an RFC 3339 date-time',
    );
  });

  it('takes an absent, null or blank timestamp as none given', () => {
    for (const timestamp of [undefined, null, '', '  ']) {
      const r = openVexNormalizer.normalize(doc([fixedLater, affectedEarlier(timestamp)], { timestamp }), ctx);
      expect(r._unsafeUnwrap().map((c) => c.status)).toEqual(['affected']);
    }
  });

  it('still orders readable times: the later statement is the claim', () => {
    const r = openVexNormalizer.normalize(
      doc([{ ...fixedLater, timestamp: '2024-07-01T00:00:00Z' }, affectedEarlier('2024-05-01T00:00:00Z')]),
      ctx,
    );
    expect(r._unsafeUnwrap().map((c) => [c.status, c.issuedAt])).toEqual([['fixed', '2024-07-01T00:00:00.000Z']]);
  });
});
