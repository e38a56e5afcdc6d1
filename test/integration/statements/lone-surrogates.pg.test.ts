/**
 * JSON may escape half of a UTF-16 surrogate pair (`"\ud800"`), which
 * PostgreSQL text cannot hold: node-postgres would send it as U+FFFD, so
 * `pkg:\ud800`, `pkg:\udc00` and `pkg:\ufffd` would be counted as three
 * claims and stored as one row. The document fails instead, and the
 * summary matches the table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { psql } from './helpers.js';

/** An OpenVEX document with one statement, its products given as JSON text (escapes kept). */
const openVex = (products: string): string =>
  '{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2025-10-01T00:00:00Z","version":1,' +
  `"statements":[{"vulnerability":{"name":"CVE-2024-1"},"products":${products},"status":"fixed"}]}`;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  (await source.prepare())._unsafeUnwrap();
  const retrievedAt = new Date('2025-10-01T00:00:00Z');
  (
    await source.append([
      { digest: 'sha256:surrogates', retrievedAt, content: openVex('[{"@id":"pkg:\\ud800"},{"@id":"pkg:\\udc00"},{"@id":"pkg:\\ufffd"}]') },
      // A pair written as two escapes is one well-formed character.
      { digest: 'sha256:pair', retrievedAt, content: openVex('[{"@id":"pkg:\\ud83d\\ude00"},{"@id":"pkg:\\ufffd"}]') },
    ])
  )._unsafeUnwrap();
  await source.close();
});
afterAll(async () => {
  await db?.drop();
});

describe('a document with lone UTF-16 surrogates in product keys', () => {
  it('fails with DOCUMENT_INVALID, and the claims written match the table', async () => {
    const source = new PgRawDocumentSource({ pg: db.url });
    const sink = new PgStatementSink({ pg: db.url });
    const r = (await new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers }).run({ runId: 's' }))._unsafeUnwrap();
    await Promise.all([source.close(), sink.close()]);
    expect(r.failed.map((f) => [f.digest, f.code])).toEqual([['sha256:surrogates', 'DOCUMENT_INVALID']]);
    expect(r.failed[0]?.message).toMatch(/lone UTF-16 surrogate in productKey, which PostgreSQL text cannot hold/);
    expect(r.claimsWritten).toBe(2);
    expect(Number(psql(db.url, 'SELECT count(*) FROM vex.statements'))).toBe(r.claimsWritten);
  });
});
