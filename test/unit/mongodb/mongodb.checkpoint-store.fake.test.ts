/**
 * A checkpoint document in MongoDB is a document anyone with write access
 * can edit (mongosh, Compass): what the store hands to a resume must be the
 * checkpoint's shape, or the resume must stop, never page from a cursor
 * that repeats or skips documents.
 */
import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { MongoCheckpointStore } from '../../../src/mongodb/mongo-checkpoint-store.js';
import { FakeMongo } from '../../support/recording-mongo-fake.js';

const good = {
  _id: 'r',
  cursor: { retrievedAt: '2025-10-19T08:00:00.000Z', digest: 'sha256:a' },
  counters: { evaluated: 3, backfilled: 2, claimsWritten: 2, skipped: 1, failures: 0 },
  options: { retrievedSince: null, force: false, maxDocuments: null },
  outcomeSha256: 'ab'.repeat(32),
  completed: false,
  updatedAt: new Date(0),
};

async function loadWith(doc: Record<string, unknown>) {
  const fake = new FakeMongo();
  const db = fake.db() as unknown as Db;
  await db.collection('statement_backfill_checkpoints').insertOne(doc as never);
  return new MongoCheckpointStore({ db, retryDelayMs: 1 }).loadCheckpoint('r');
}

describe('MongoCheckpointStore.loadCheckpoint of a checkpoint edited by hand', () => {
  it('reads a checkpoint the sink wrote as it is', async () => {
    const cp = (await loadWith(good))._unsafeUnwrap();
    expect(cp?.cursor).toEqual(good.cursor);
    expect(cp?.completed).toBe(false);
  });

  it('a cursor time set as a date (ISODate in mongosh) is read as the text the source writes', async () => {
    const cp = (await loadWith({ ...good, cursor: { ...good.cursor, retrievedAt: new Date('2025-10-19T08:00:00Z') } }))._unsafeUnwrap();
    expect(cp?.cursor).toEqual({ retrievedAt: '2025-10-19T08:00:00.000Z', digest: 'sha256:a' });
  });

  it.each([
    [
      'a cursor digest that is no string (a number sorts before every digest: the page repeats)',
      { cursor: { ...good.cursor, digest: 7 } },
      'cursor.digest',
    ],
    ['a cursor without retrievedAt', { cursor: { digest: 'sha256:a' } }, 'cursor.retrievedAt'],
    ['no cursor field', { cursor: undefined }, 'cursor'],
    ['completed as the text "false" (read as true: the run is reported done)', { completed: 'false' }, 'completed'],
    ['a counter as text', { counters: { ...good.counters, evaluated: '3' } }, 'counters.evaluated'],
    ['a negative counter', { counters: { ...good.counters, failures: -1 } }, 'counters.failures'],
    ['no counters', { counters: undefined }, 'counters'],
    ['force as text', { options: { ...good.options, force: 'no' } }, 'options.force'],
  ])('%s: INVALID_ARGUMENT naming the run and the field, not a resume', async (_what, change, field) => {
    const doc: Record<string, unknown> = { ...good, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete doc[k];
    const r = await loadWith(doc);
    const e = r._unsafeUnwrapErr();
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain(field);
    expect(e.context).toMatchObject({ runId: 'r', table: 'statement_backfill_checkpoints' });
  });
});
