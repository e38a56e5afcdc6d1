/**
 * A custom normalizer is plain code run on untyped documents: it may throw
 * in `canNormalize`, return something that is not a Result, or claims
 * whose fields are not text (a vulnerability id read from a JSON number, a
 * `null` justification) or that name another document's digest. Each such
 * document fails on its own with `DOCUMENT_INVALID`, and the run goes on.
 * They used to throw out of the page and stop the run as `DB_ERROR`, store
 * `null` as the text "null", or write claims under another document's
 * digest (which `force` never cleared, and which failed the whole batch, on
 * every resume, when that document's claims were in it too).
 */
import { ok, type Result } from 'neverthrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackfillError } from '../../../src/errors.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import type { VexClaim, VexNormalizer } from '../../../src/statements/ports.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { psql, tablesIn } from './helpers.js';

/** Content of the documents: what each one makes the normalizer do. */
const SHAPES = [
  'good',
  'numeric-id',
  'throws-in-canNormalize',
  'not-a-result',
  'claims-not-a-list',
  'null-claim',
  'null-justification',
  'other-digest',
  'good',
] as const;
type Shape = (typeof SHAPES)[number];

const digestOf = (i: number): string => `sha256:${String(i).padStart(2, '0')}`;

/** Reads `{ shape, id }` documents as an untyped JavaScript normalizer would. */
const loose: VexNormalizer = {
  format: 'loose',
  canNormalize: (doc) => {
    const d = doc as { shape: Shape; missing?: { field: boolean } };
    return d.shape === 'throws-in-canNormalize' ? (d.missing as { field: boolean }).field : true;
  },
  normalize: (doc, { digest }): Result<readonly VexClaim[], BackfillError> => {
    const d = doc as { shape: Shape; id: unknown };
    const claim = { vulnerabilityId: d.id, productKey: 'pkg:npm/a@1.0.0', status: 'fixed', documentDigest: digest, format: 'loose' };
    const claims: Record<Shape, unknown> = {
      good: ok([claim]),
      'numeric-id': ok([claim]),
      'throws-in-canNormalize': ok([claim]),
      'not-a-result': [claim],
      'claims-not-a-list': ok(claim),
      'null-claim': ok([claim, null]),
      'null-justification': ok([{ ...claim, justification: null }]),
      'other-digest': ok([{ ...claim, documentDigest: digestOf(0) }]),
    };
    return claims[d.shape] as Result<readonly VexClaim[], BackfillError>;
  },
};

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  (await source.prepare())._unsafeUnwrap();
  const docs = SHAPES.map((shape, i) => ({
    digest: digestOf(i),
    retrievedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)),
    content: JSON.stringify({ shape, id: shape === 'numeric-id' ? 2024 : `CVE-2024-${i}` }),
  }));
  (await source.append(docs))._unsafeUnwrap();
  await source.close();
});
afterAll(async () => {
  await db?.drop();
});

describe('a custom normalizer that breaks its contract on one document', () => {
  it.for([1, 9])('fails that document alone, and the run goes on (batch size %i)', async (batchSize) => {
    const prefix = `b${batchSize}`;
    const source = new PgRawDocumentSource({ pg: db.url });
    const sink = new PgStatementSink({ pg: db.url, ...tablesIn(prefix) });
    try {
      const result = await new StatementBackfiller({ source, sink, normalizers: [loose] }).run({ runId: 'r', batchSize });
      const summary = result._unsafeUnwrap();
      expect(summary.failed.map((f) => [f.digest, f.code, f.message])).toEqual([
        [digestOf(1), 'DOCUMENT_INVALID', `document ${digestOf(1)}: its loose claims[0] has a number in vulnerabilityId, not text.`],
        [
          digestOf(2),
          'DOCUMENT_INVALID',
          `document ${digestOf(2)}: the loose normalizer's canNormalize threw: Cannot read properties of undefined (reading 'field')`,
        ],
        [digestOf(3), 'DOCUMENT_INVALID', `document ${digestOf(3)}: the loose normalizer returned an array, not a Result.`],
        [digestOf(4), 'DOCUMENT_INVALID', `document ${digestOf(4)}: the loose normalizer's claims are an object, not an array.`],
        [digestOf(5), 'DOCUMENT_INVALID', `document ${digestOf(5)}: its loose claims[1] is null, not an object.`],
        [digestOf(6), 'DOCUMENT_INVALID', `document ${digestOf(6)}: its loose claim for "CVE-2024-6" has null in justification, not text.`],
        [
          digestOf(7),
          'DOCUMENT_INVALID',
          `document ${digestOf(7)}: its loose claim for "CVE-2024-7" has documentDigest "${digestOf(0)}", not its document's digest.`,
        ],
      ]);
      expect([summary.evaluated, summary.backfilled, summary.failures]).toEqual([9, 2, 7]);
      expect(psql(db.url, `SELECT document_digest, vulnerability_id FROM ${prefix}.statements ORDER BY 1`)).toBe(
        `${digestOf(0)}|CVE-2024-0\n${digestOf(8)}|CVE-2024-8`,
      );
    } finally {
      await Promise.all([source.close(), sink.close()]);
    }
  });
});
