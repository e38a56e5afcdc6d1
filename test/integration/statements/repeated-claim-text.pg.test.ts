/**
 * A claim carries its statement text, and a CSAF remediation naming a group
 * gives every member's claim the same text: a document of 650 kB (a text of
 * 600,000 characters for 1,000 products) makes 600 MB of claim rows. The
 * batch's COPY data was built as one string, which cannot hold more than
 * about 512 Mi characters: building it threw ("Invalid string length")
 * once the COPY had started, and the run hung, its connection waiting for
 * COPY data for ever (on every resume). The rows are now sent in chunks.
 * (Such a document is over the default `maxClaimBytesPerDocument` now: the
 * run here raises it, as an operator trusting the document would.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { psql } from './helpers.js';

const PRODUCTS = 1_000;
const DETAILS = 600_000;

/** A CSAF VEX document whose one remediation, `details` long, names a group of every product. */
function csaf(cve: string, products: number, details: number): string {
  const ids = Array.from({ length: products }, (_, i) => `P${i}`);
  return JSON.stringify({
    document: { csaf_version: '2.0', category: 'csaf_vex', tracking: { current_release_date: '2025-01-01T00:00:00Z' } },
    product_tree: {
      full_product_names: ids.map((id) => ({ product_id: id, name: `product ${id}` })),
      product_groups: [{ group_id: 'ALL', product_ids: ids }],
    },
    vulnerabilities: [
      {
        cve,
        product_status: { known_affected: ids },
        remediations: [{ category: 'vendor_fix', details: 'Upgrade.'.repeat(details / 8), group_ids: ['ALL'] }],
      },
    ],
  });
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  (await source.prepare())._unsafeUnwrap();
  const docs = [csaf('CVE-2025-0001', 2, 96), csaf('CVE-2025-0002', PRODUCTS, DETAILS), csaf('CVE-2025-0003', 2, 96)].map((content, i) => ({
    digest: `sha256:${i}`,
    retrievedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)),
    content,
  }));
  (await source.append(docs))._unsafeUnwrap();
  await source.close();
});
afterAll(async () => {
  await db?.drop();
});

describe('a document whose claims repeat a long text', () => {
  it('is written with the documents of its batch, however much the repeated text adds up to', { timeout: 120_000 }, async () => {
    const source = new PgRawDocumentSource({ pg: db.url });
    const sink = new PgStatementSink({ pg: db.url });
    try {
      const summary = (
        await new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers }).run({
          batchSize: 3,
          maxClaimBytesPerDocument: 2 * PRODUCTS * DETAILS,
        })
      )._unsafeUnwrap();
      expect([summary.evaluated, summary.backfilled, summary.claimsWritten, summary.failures]).toEqual([3, 3, PRODUCTS + 4, 0]);
      expect(
        psql(db.url, 'SELECT document_digest, count(*), sum(length(statement)) FROM vex.statements GROUP BY 1 ORDER BY 1').split('\n'),
      ).toEqual(['sha256:0|2|192', `sha256:1|${PRODUCTS}|${PRODUCTS * DETAILS}`, 'sha256:2|2|192']);
    } finally {
      await Promise.all([source.close(), sink.close()]);
    }
  });
});
