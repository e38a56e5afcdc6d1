/**
 * Claims written by an earlier version under another product key (an
 * OpenVEX product's `@id`, where the purl is the key now) are replaced by a
 * `force` run: a document's claims are deleted by its digest, whatever
 * their keys, before its new ones go in. Without `force` the document is
 * skipped and keeps them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { backfillSingleProcess, psql } from './helpers.js';

const DIGEST = 'sha256:rekeyed-openvex';
const IRI = 'https://products.example.test/ledger-daemon';
const PURL = 'pkg:oci/ledger-daemon@sha256%3Aabc1';
const CONTENT = JSON.stringify({
  '@context': 'https://openvex.dev/ns/v0.2.0',
  timestamp: '2026-02-03T04:05:06Z',
  statements: [
    {
      vulnerability: { name: 'CVE-2026-1111' },
      products: [{ '@id': IRI, identifiers: { purl: PURL } }],
      status: 'not_affected',
      justification: 'vulnerable_code_not_in_execute_path',
    },
  ],
});

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  try {
    (await source.prepare())._unsafeUnwrap();
    (await source.append([{ digest: DIGEST, retrievedAt: new Date('2026-02-03T05:00:00Z'), content: CONTENT }]))._unsafeUnwrap();
  } finally {
    await source.close();
  }
});
afterAll(async () => {
  await db?.drop();
});

const keys = (): string =>
  psql(db.url, `SELECT product_key || '|' || status FROM vex.statements WHERE document_digest = '${DIGEST}' ORDER BY 1`);

describe('claims under an earlier product key', () => {
  it('stay without force, and are replaced by a force run', async () => {
    (await backfillSingleProcess(db.url, { runId: 'first' }))._unsafeUnwrap();
    // As an earlier version keyed the product: by its @id.
    psql(db.url, `UPDATE vex.statements SET product_key = '${IRI}' WHERE document_digest = '${DIGEST}'`);
    expect(keys()).toBe(`${IRI}|not_affected`);

    (await backfillSingleProcess(db.url, { runId: 'again' }))._unsafeUnwrap();
    expect(keys()).toBe(`${IRI}|not_affected`);

    (await backfillSingleProcess(db.url, { runId: 'forced', force: true }))._unsafeUnwrap();
    expect(keys()).toBe(`${PURL}|not_affected`);
  });
});
