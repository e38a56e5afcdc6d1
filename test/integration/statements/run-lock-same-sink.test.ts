/**
 * Two runs of one run id on one `PgStatementSink` (a worker's slots share
 * theirs): the first lost its lock's connection and has not noticed yet,
 * the second asks for the lock. The sink must not let the second run
 * beside the first: it would take the lock, the first's commits would pass
 * the check under the second's lock, and both would write the run.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { heldAtFirstBatch, useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 37, count: 300, brokenRatio: 0 }, (created) => (db = created));

it('a second run of a run id whose lock the sink lost is refused until the first stops; the first stops at its next commit', async () => {
  const source = new PgRawDocumentSource({ pg: db.url });
  const sink = new PgStatementSink({ pg: db.url });
  const backfiller = new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers });
  const { run: first, atFirstBatch, goOn } = heldAtFirstBatch((throttle) => backfiller.run({ runId: 'shared', batchSize: 50, throttle }));
  try {
    await atFirstBatch;
    const killed = await db.query(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(killed).toEqual([{ ok: true }]);
    for (let i = 0; i < 400 && (await db.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'")).length > 0; i += 1)
      await new Promise((r) => setTimeout(r, 25));

    const second = await backfiller.run({ runId: 'shared', batchSize: 50 });
    goOn();
    const late = await first;
    expect(late.isErr() ? late.error.message : 'the first run committed every batch').toMatch(/lost its run lock/);
    expect(second.isErr() && second.error.code).toBe('LOCKED');

    // Once the first stopped, the run id is free again.
    const third = (await backfiller.run({ runId: 'shared', batchSize: 50 }))._unsafeUnwrap();
    expect(third.evaluated).toBe(300);
  } finally {
    goOn();
    await Promise.all([source.close(), sink.close()]);
  }
}, 120_000);
