/**
 * RFC 3339 allows a leap second (`23:59:60`, or its local time under an
 * offset). Such a statement time used to be unreadable, so an OpenVEX
 * statement made in a leap second fell back to the document's time: its
 * claim lost its time, and an earlier statement about the same product
 * could override it. A leap second is now read as the second after it, as
 * PostgreSQL reads `23:59:60`.
 */
import { describe, expect, it } from 'vitest';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';
import { isoTimestamp } from '../../../src/statements/normalizers/fields.js';

const ctx = { digest: 'sha256:leap', retrievedAt: new Date('2017-01-02T00:00:00Z') };
const product = { '@id': 'pkg:deb/debian/tzdata@2016j-1' };
const doc = {
  '@context': 'https://openvex.dev/ns/v0.2.0',
  timestamp: '2016-12-31T00:00:00Z',
  statements: [
    { vulnerability: { name: 'CVE-2016-9999' }, products: [product], status: 'affected', timestamp: '2016-12-31T23:59:59.900Z' },
    { vulnerability: { name: 'CVE-2016-9999' }, products: [product], status: 'fixed', timestamp: '2016-12-31T23:59:60.250Z' },
  ],
};

describe('leap seconds in document times', () => {
  it('reads 23:59:60 as the next second, under any offset', () => {
    expect(isoTimestamp('2016-12-31T23:59:60Z')).toBe('2017-01-01T00:00:00.000Z');
    expect(isoTimestamp('2016-12-31T23:59:60.5Z')).toBe('2017-01-01T00:00:00.500Z');
    expect(isoTimestamp('2017-01-01T05:29:60+05:30')).toBe('2017-01-01T00:00:00.000Z');
    expect(isoTimestamp('2016-12-31T23:59:61Z')).toBeUndefined();
    expect(isoTimestamp('2016-12-31T23:60:00Z')).toBeUndefined();
  });

  it('orders an OpenVEX statement made in a leap second after one made just before it', () => {
    const claims = openVexNormalizer.normalize(doc, ctx)._unsafeUnwrap();
    expect(claims.map((c) => [c.status, c.issuedAt])).toEqual([['fixed', '2017-01-01T00:00:00.250Z']]);
  });
});
