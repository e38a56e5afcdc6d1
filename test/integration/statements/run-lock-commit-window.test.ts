/**
 * A run's lock session is cut off after the batch in flight checked that it
 * still held the run, but before that batch wrote its checkpoint (the
 * process stalls there: a long garbage collection, a page normalized on the
 * same thread, a slow network). A second process takes the run id and
 * completes the run. The first's late batch must not then commit the
 * checkpoint it had computed before the hand-over: the run would go back to
 * "not completed", and resuming it would report as skipped the documents
 * the second process backfilled. The second waits for that batch to end
 * before it reads the checkpoint.
 *
 * The second batch holds documents without claims only, so the second
 * process meets no claim of the first's open transaction on its way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { backfillSingleProcess, heldAtFirstBatch, seedDocuments } from './helpers.js';

const dbs: TestDatabase[] = [];
beforeAll(async () => {
  dbs.push(await createTestDatabase(), await createTestDatabase());
  for (const db of dbs) {
    // Batches of 50: claims, then only broken documents, then claims again.
    await seedDocuments(db.url, { seed: 41, count: 50, brokenRatio: 0, startAt: new Date('2025-10-01T00:00:00Z') });
    await seedDocuments(db.url, { seed: 42, count: 50, brokenRatio: 1, startAt: new Date('2025-10-02T00:00:00Z') });
    await seedDocuments(db.url, { seed: 43, count: 100, brokenRatio: 0, startAt: new Date('2025-10-03T00:00:00Z') });
  }
});
afterAll(async () => {
  await Promise.all(dbs.map((db) => db.drop()));
});

/** A gate on the batch's document/checkpoint write: once armed, that statement waits until `open()`. */
function stallingPool(url: string) {
  let armed = false;
  let reached: () => void = () => undefined;
  const atWrite = new Promise<void>((resolve) => (reached = resolve));
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  class StallingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloads
    override query(config: any, ...rest: any[]): any {
      const text: unknown = typeof config === 'string' ? config : config?.text;
      if (armed && typeof text === 'string' && text.startsWith('WITH docs AS') && rest.length <= 1) {
        reached();
        return opened.then(() => super.query(config, ...rest));
      }
      return super.query(config, ...rest);
    }
  }
  const pool = new pg.Pool({ connectionString: url, Client: StallingClient });
  return { pool, arm: () => (armed = true), atWrite, open };
}

describe('a run whose lock is lost between its check and its checkpoint write', () => {
  it('hands the run over only once that batch ended, so the completed run stays completed', async () => {
    const [reference, victim] = dbs as [TestDatabase, TestDatabase];
    const expected = (await backfillSingleProcess(reference.url, { runId: 'commit-window' }))._unsafeUnwrap();

    const stalling = stallingPool(victim.url);
    const source = new PgRawDocumentSource({ pg: victim.url });
    const sink = new PgStatementSink({ pg: stalling.pool });
    const {
      run: first,
      atFirstBatch,
      goOn,
    } = heldAtFirstBatch((throttle) =>
      new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers }).run({
        runId: 'commit-window',
        batchSize: 50,
        throttle,
      }),
    );
    const admin = new pg.Client({ connectionString: victim.url });
    await admin.connect();
    try {
      await atFirstBatch;
      const held = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      expect(held.rows).toHaveLength(1);
      stalling.arm();
      goOn();
      await stalling.atWrite;
      const killed = await admin.query('SELECT pg_terminate_backend($1) AS ok', [held.rows[0]?.pid]);
      expect(killed.rows).toEqual([{ ok: true }]);

      const second = backfillSingleProcess(victim.url, { runId: 'commit-window' });
      await Promise.race([second, new Promise((resolve) => setTimeout(resolve, 1500))]);
      stalling.open();

      const late = await first;
      expect(late.isErr() && late.error.message).toMatch(/lost its run lock/);
      expect((await second)._unsafeUnwrap().text).toBe(expected.text);
    } finally {
      await Promise.all([admin.end(), source.close(), sink.close(), stalling.pool.end()]);
    }

    const after = (await backfillSingleProcess(victim.url, { runId: 'commit-window' }))._unsafeUnwrap();
    expect(after.text).toBe(expected.text);
    expect(after.reportSha256).toBe(expected.reportSha256);
  });
});
