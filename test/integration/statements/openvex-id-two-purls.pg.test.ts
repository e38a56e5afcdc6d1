/**
 * An OpenVEX statement may name a component by its `@id` alone; its claim is
 * keyed by the purl the document gives that `@id` elsewhere. A document
 * giving one `@id` two purls of two packages had the claim keyed by
 * whichever came first in the document: swapping two statements about two
 * different packages moved a `not_affected` claim from one package to the
 * other, silently. Such a statement now fails its document with
 * DOCUMENT_INVALID naming the `@id` and both purls; statements that give
 * their own purl are keyed by it as before.
 */
import { describe, expect, it } from 'vitest';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';
import { expectRecordedFailure, useDatabaseWithDocument } from './one-failing-document.js';

const ctx = { digest: 'sha256:two-purls', retrievedAt: new Date('2026-01-01T00:00:00Z') };

const givesA = {
  vulnerability: { name: 'CVE-2026-0042' },
  products: [{ '@id': 'app', identifiers: { purl: 'pkg:npm/a@1.0.0' } }],
  status: 'affected',
};
const givesB = {
  vulnerability: { name: 'CVE-2026-0042' },
  products: [{ '@id': 'app', identifiers: { purl: 'pkg:npm/b@1.0.0' } }],
  status: 'fixed',
};
const idAlone = {
  vulnerability: { name: 'CVE-2026-0042' },
  products: ['app'],
  status: 'not_affected',
  justification: 'component_not_present',
};

const openVex = (statements: unknown[]) => ({
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://example.com/vex/two-purls',
  author: 'example',
  timestamp: '2026-01-01T00:00:00Z',
  version: 1,
  statements,
});

const MESSAGE =
  'OpenVEX document sha256:two-purls: statements[2].products[0] names @id "app" without a purl, and the document gives that @id two purls: "pkg:npm/a@1.0.0" (statements[0].products[0]) and "pkg:npm/b@1.0.0" (statements[1].products[0]); give the purl here, or one @id per component';

const db = useDatabaseWithDocument(42, 'sha256:two-purls', () => JSON.stringify(openVex([givesA, givesB, idAlone])));

describe('an OpenVEX @id given two purls and named alone', () => {
  it('fails its document, recorded with the @id and both purls, and stores no claim of it', async () => {
    await expectRecordedFailure(db(), 'two-purls', 'sha256:two-purls', MESSAGE);
  });

  it('fails whichever order the two purls come in', () => {
    const r = openVexNormalizer.normalize(openVex([givesB, givesA, idAlone]), ctx);
    expect(r.isErr() && r.error.message).toMatch(
      /statements\[2\]\.products\[0\] names @id "app" without a purl, and the document gives that @id two purls: "pkg:npm\/b@1\.0\.0" \(statements\[0\]\.products\[0\]\) and "pkg:npm\/a@1\.0\.0" \(statements\[1\]/,
    );
  });

  it('keys statements that give their own purl by it, and accepts two spellings of one purl', () => {
    const keyed = (statements: unknown[]) =>
      openVexNormalizer
        .normalize(openVex(statements), ctx)
        ._unsafeUnwrap()
        .map((c) => [c.productKey, c.status]);
    expect(keyed([givesA, givesB])).toEqual([
      ['pkg:npm/a@1.0.0', 'affected'],
      ['pkg:npm/b@1.0.0', 'fixed'],
    ]);
    const respelt = { ...givesB, products: [{ '@id': 'app', identifiers: { purl: 'pkg:NPM/a@1.0.0' } }] };
    expect(keyed([givesA, respelt, idAlone])).toEqual([['pkg:npm/a@1.0.0', 'not_affected']]);
  });
});
