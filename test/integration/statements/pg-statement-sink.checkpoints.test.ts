/**
 * `PgStatementSink.loadCheckpoints`: several runs' checkpoints (a
 * distributed run's ranges) in two queries, equal to loading each with
 * `loadCheckpoint`: counters, cursor, completion and each run's failures in
 * the order they were recorded; a run without a checkpoint is absent.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 12, count: 300, brokenRatio: 0.1 }, (created) => (db = created));

describe('PgStatementSink.loadCheckpoints', () => {
  it("returns each run's checkpoint and failures as loadCheckpoint does, in one call", async () => {
    const sink = new PgStatementSink({ pg: db.pool });
    const backfiller = new StatementBackfiller({
      source: new PgRawDocumentSource({ pg: db.pool }),
      sink,
      normalizers: defaultVexNormalizers,
    });
    // Two runs over the same documents: a whole one, and one capped at 120 documents.
    for (const [runId, maxDocuments] of [
      ['whole', undefined],
      ['part', 120],
    ] as const) {
      const r = await backfiller.run({ runId, batchSize: 50, force: true, ...(maxDocuments === undefined ? {} : { maxDocuments }) });
      expect(r.isOk(), r.isErr() ? r.error.message : '').toBe(true);
    }
    const one = async (id: string) => (await sink.loadCheckpoint(id))._unsafeUnwrap();
    const [whole, part] = [await one('whole'), await one('part')];
    expect(whole?.failed.length).toBeGreaterThan(part?.failed.length ?? 0);
    expect(part?.failed.length).toBeGreaterThan(0);

    const all = (await sink.loadCheckpoints(['part', 'never', 'whole']))._unsafeUnwrap();
    expect([...all.keys()].sort()).toEqual(['part', 'whole']);
    expect(all.get('whole')).toEqual(whole);
    expect(all.get('part')).toEqual(part);
    expect((await sink.loadCheckpoints([]))._unsafeUnwrap().size).toBe(0);
  });
});
