/**
 * A failure's message is stored as text with its document. A custom
 * normalizer's message may hold what PostgreSQL text cannot (a NUL, half of
 * a surrogate pair), and a long one is cut: the run records it as the
 * table holds it, so the batch commits, and a run resumed from its
 * checkpoint (which reads the failures back) reports what an uninterrupted
 * one does.
 */
import { err } from 'neverthrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackfillError } from '../../../src/errors.js';
import { MAX_FAILURE_MESSAGE_LENGTH } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import type { VexNormalizer } from '../../../src/statements/ports.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { psql, tablesIn } from './helpers.js';

/** Fails every document with a message holding a NUL, a lone surrogate, and an emoji split by the cut. */
const refusing: VexNormalizer = {
  format: 'refusing',
  canNormalize: () => true,
  normalize: (_doc, { digest }) =>
    err(
      new BackfillError(
        'DOCUMENT_INVALID',
        `${digest}: bad \u0000 and \ud800 here ${'x'.repeat(MAX_FAILURE_MESSAGE_LENGTH - 100)}${'\ud83d\ude00'.repeat(100)}`,
      ),
    ),
};

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  (await source.prepare())._unsafeUnwrap();
  const docs = Array.from({ length: 6 }, (_, i) => ({
    digest: `sha256:${i}`,
    retrievedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)),
    content: '{}',
  }));
  (await source.append(docs))._unsafeUnwrap();
  await source.close();
});
afterAll(async () => {
  await db?.drop();
});

async function run(prefix: string, abortAt?: number) {
  const source = new PgRawDocumentSource({ pg: db.url });
  const sink = new PgStatementSink({ pg: db.url, ...tablesIn(prefix) });
  const stop = new AbortController();
  try {
    return await new StatementBackfiller({ source, sink, normalizers: [refusing] }).run({
      runId: 'r',
      batchSize: 2,
      signal: stop.signal,
      onProgress: (p) => {
        if (abortAt !== undefined && p.evaluated >= abortAt) stop.abort();
      },
    });
  } finally {
    await Promise.all([source.close(), sink.close()]);
  }
}

describe("a custom normalizer's failure messages", () => {
  it('are stored as reported, and a resumed run reports what an uninterrupted one does', async () => {
    const whole = (await run('whole'))._unsafeUnwrap();
    expect(whole.failures).toBe(6);
    const message = whole.failed[0]?.message ?? '';
    expect(message.length).toBeLessThanOrEqual(MAX_FAILURE_MESSAGE_LENGTH);
    expect(message).toMatch(/^sha256:0: bad \ufffd and \ufffd here x+(\ud83d\ude00)+…$/u);
    expect(psql(db.url, "SELECT message FROM whole.failures WHERE digest = 'sha256:0'")).toBe(message);

    expect((await run('resumed', 2))._unsafeUnwrapErr().code).toBe('ABORTED');
    const resumed = (await run('resumed'))._unsafeUnwrap();
    expect(resumed.resumed).toBe(true);
    expect(resumed.reportSha256).toBe(whole.reportSha256);
  });
});
