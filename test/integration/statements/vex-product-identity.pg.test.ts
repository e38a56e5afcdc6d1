/**
 * What a stored claim says about a product, when a document names it in
 * more than one way, read back from PostgreSQL with psql.
 *
 * OpenVEX: a product's `@id` is an IRI that makes it referenceable in the
 * document, and `identifiers` lists its software identifiers (a purl above
 * all); VEX processors match a product by any of them, and a later
 * statement about a product overrides an earlier one. So statements that
 * name one product by its `@id` and by its purl are about one product.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { backfillSingleProcess, psql } from './helpers.js';

const IRI = 'https://example.com/products/renderer';
const PURL = 'pkg:npm/renderer@3.4.1';

const openVex = (statements: unknown[]): string =>
  JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', timestamp: '2025-01-01T00:00:00Z', statements });
const statement = (products: unknown[], status: string, timestamp: string) => ({
  vulnerability: { name: 'CVE-2025-1' },
  products,
  status,
  ...(status === 'not_affected' ? { justification: 'component_not_present' } : {}),
  timestamp,
});

/** Each document, and the claims (vulnerability, product key, status) it must leave in the statements table. */
const DOCUMENTS: readonly { digest: string; content: string; claims: string }[] = [
  {
    // By @id and purl first, by the purl alone later: the later one is the product's claim.
    digest: 'sha256:openvex-id-then-purl',
    content: openVex([
      statement([{ '@id': IRI, identifiers: { purl: PURL } }], 'not_affected', '2025-01-02T00:00:00Z'),
      statement([{ identifiers: { purl: PURL } }], 'affected', '2025-01-03T00:00:00Z'),
    ]),
    claims: `CVE-2025-1|${PURL}|affected`,
  },
  {
    // By the purl first, by @id and purl later.
    digest: 'sha256:openvex-purl-then-id',
    content: openVex([
      statement([{ identifiers: { purl: PURL } }], 'affected', '2025-01-02T00:00:00Z'),
      statement([{ '@id': IRI, identifiers: { purl: PURL } }], 'not_affected', '2025-01-03T00:00:00Z'),
    ]),
    claims: `CVE-2025-1|${PURL}|not_affected`,
  },
  {
    // By @id alone later: the document gave that @id's purl in an earlier statement.
    digest: 'sha256:openvex-id-alone-later',
    content: openVex([
      statement([{ '@id': IRI, identifiers: { purl: PURL } }], 'under_investigation', '2025-01-02T00:00:00Z'),
      statement([{ '@id': IRI }], 'fixed', '2025-01-03T00:00:00Z'),
    ]),
    claims: `CVE-2025-1|${PURL}|fixed`,
  },
];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  try {
    (await source.prepare())._unsafeUnwrap();
    (
      await source.append(
        DOCUMENTS.map((d, i) => ({ digest: d.digest, retrievedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)), content: d.content })),
      )
    )._unsafeUnwrap();
  } finally {
    await source.close();
  }
  (await backfillSingleProcess(db.url, { runId: 'identity' }))._unsafeUnwrap();
});
afterAll(async () => {
  await db?.drop();
});

describe('one product named in several ways within a document', () => {
  it.each(DOCUMENTS)('$digest', ({ digest, claims }) => {
    const stored = psql(
      db.url,
      `SELECT vulnerability_id || '|' || product_key || '|' || status FROM vex.statements WHERE document_digest = '${digest}' ORDER BY 1`,
    );
    expect(stored).toBe(claims);
  });
});
