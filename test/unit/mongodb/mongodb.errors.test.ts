import { createRequire } from 'node:module';
import { MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { BackfillError } from '../../../src/errors.js';
import {
  bulkWritePartial,
  duplicateKeyId,
  isRetryableMongoError,
  mongoErrorToBackfill,
  withMongoRetry,
} from '../../../src/mongodb/errors.js';

// The driver's own bulk-write error classes (not re-exported from its entry point).
interface BulkCommon {
  WriteError: new (err: Record<string, unknown>) => unknown;
  BulkWriteResult: new (result: Record<string, unknown>, ordered: boolean) => unknown;
  MongoBulkWriteError: new (error: Record<string, unknown>, result: unknown) => Error;
}
const bulk = createRequire(import.meta.url)('mongodb/lib/bulk/common.js') as BulkCommon;

function bulkError(
  writeErrors: Record<string, unknown>[],
  counts: { nInserted?: number; nUpserted?: number; nMatched?: number } = {},
): Error {
  const errors = writeErrors.map((w) => new bulk.WriteError(w));
  const result = new bulk.BulkWriteResult(
    {
      ok: 1,
      writeErrors: errors,
      writeConcernErrors: [],
      insertedIds: [],
      nInserted: counts.nInserted ?? 0,
      nUpserted: counts.nUpserted ?? 0,
      nMatched: counts.nMatched ?? 0,
      nModified: 0,
      nRemoved: 0,
      upserted: [],
    },
    false,
  );
  const first = writeErrors[0] ?? {};
  return new bulk.MongoBulkWriteError({ message: String(first.errmsg ?? 'bulk failed'), code: first.code, writeErrors: errors }, result);
}

describe('mongoErrorToBackfill', () => {
  it('maps a duplicate key (11000) to DUPLICATE_ID with the id from keyValue', () => {
    const e = mongoErrorToBackfill(new MongoServerError({ code: 11000, errmsg: 'E11000 duplicate key error', keyValue: { _id: 'a-1' } }), {
      table: 'linksets_raw',
    });
    expect(e).toBeInstanceOf(BackfillError);
    expect(e.code).toBe('DUPLICATE_ID');
    expect(e.context).toMatchObject({ table: 'linksets_raw', id: 'a-1' });
    expect(e.dbCode).toBe(11000);
    expect(e.message).toBe('MongoDB (linksets_raw): duplicate id "a-1"; remove one of the records that share it.');
  });

  it.for([
    [
      'keyValue',
      {
        code: 11000,
        errmsg: 'E11000 duplicate key error collection: db.beta index: k_unique dup key: { k: "same" }',
        keyValue: { k: 'same' },
      },
    ],
    ['the message alone', { code: 11000, errmsg: 'E11000 duplicate key error collection: db.beta index: k_unique dup key: { k: "same" }' }],
  ] as const)(
    'a duplicate key on a unique index other than _id (from %s) is MONGO_ERROR naming the key, not DUPLICATE_ID of an id no record has',
    ([, fields]) => {
      const e = mongoErrorToBackfill(new MongoServerError({ ...fields }), { table: 'beta' });
      expect(e.code).toBe('MONGO_ERROR');
      expect(e.dbCode).toBe(11000);
      expect(e.context.id).toBeUndefined();
      expect(e.message).toContain('of a unique index other than _id');
      expect(e.message).toMatch(/"same"/);
    },
  );

  it('reads the id from the message when the server sends no keyValue (string and ObjectId)', () => {
    expect(
      duplicateKeyId({ code: 11000, message: 'E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: "x \\"y\\"" }' }),
    ).toBe('x "y"');
    expect(
      duplicateKeyId({
        code: 11000,
        message: "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: ObjectId('65a1f0c2e4b0a1b2c3d4e5f6') }",
      }),
    ).toBe('65a1f0c2e4b0a1b2c3d4e5f6');
  });

  it('maps an unordered BulkWriteError: the duplicate id, and the partial result as the error partial', () => {
    const error = bulkError(
      [
        {
          index: 3,
          code: 11000,
          errmsg: 'E11000 duplicate key error collection: t.c index: _id_ dup key: { _id: "d" }',
          keyValue: { _id: 'd' },
        },
        { index: 5, code: 11000, errmsg: 'E11000 duplicate key error', keyValue: { _id: 'f' } },
      ],
      { nInserted: 8 },
    );
    const e = mongoErrorToBackfill(error, { table: 'linksets_raw' });
    expect(e.code).toBe('DUPLICATE_ID');
    expect(e.context.id).toBe('d');
    expect(e.partial).toEqual({
      inserted: 8,
      matched: 0,
      modified: 0,
      deleted: 0,
      upserted: 0,
      failedWrites: 2,
      writeErrors: [
        { index: 3, code: 11000 },
        { index: 5, code: 11000 },
      ],
    });
    expect(e.message).toContain('(2 writes of the batch failed)');
  });

  it('falls back to the id that was sent at the failed index', () => {
    const error = bulkError([{ index: 1, code: 11000, errmsg: 'E11000 duplicate key error' }]);
    const sent = ['a', 'b', 'c'];
    expect(mongoErrorToBackfill(error, {}, (i) => sent[i]).context.id).toBe('b');
  });

  it('maps BSONObjectTooLarge to DOCUMENT_TOO_LARGE, other server errors to MONGO_ERROR with the code', () => {
    expect(mongoErrorToBackfill(new MongoServerError({ code: 10334, errmsg: 'BSONObj size: 17000000 is invalid' })).code).toBe(
      'DOCUMENT_TOO_LARGE',
    );
    const other = mongoErrorToBackfill(
      new MongoServerError({ code: 121, codeName: 'DocumentValidationFailure', errmsg: 'Document failed validation' }),
      { table: 'c' },
    );
    expect(other.code).toBe('MONGO_ERROR');
    expect(other.dbCode).toBe(121);
    expect(other.message).toBe('MongoDB (c): DocumentValidationFailure (code 121) Document failed validation');
  });

  it('maps network, server-selection and failover errors to DB_CONNECTION, NamespaceNotFound to TABLE_NOT_FOUND', () => {
    expect(mongoErrorToBackfill(new MongoNetworkError('connection reset')).code).toBe('DB_CONNECTION');
    expect(mongoErrorToBackfill(new MongoServerSelectionError('no primary', { type: 'Unknown', servers: new Map() } as never)).code).toBe(
      'DB_CONNECTION',
    );
    expect(mongoErrorToBackfill(new MongoServerError({ code: 189, codeName: 'PrimarySteppedDown', errmsg: 'stepped down' })).code).toBe(
      'DB_CONNECTION',
    );
    expect(mongoErrorToBackfill(new MongoServerError({ code: 26, errmsg: 'ns not found' })).code).toBe('TABLE_NOT_FOUND');
  });

  it('passes BackfillErrors through and maps aborts to ABORTED', () => {
    const mine = new BackfillError('LOCKED', 'x');
    expect(mongoErrorToBackfill(mine)).toBe(mine);
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(mongoErrorToBackfill(abort).code).toBe('ABORTED');
  });

  it('bulkWritePartial is undefined for errors that are not bulk writes', () => {
    expect(bulkWritePartial(new MongoNetworkError('x'))).toBeUndefined();
  });
});

describe('isRetryableMongoError', () => {
  it('retries network errors, retryable labels and failover codes; not duplicates, validation or our own errors', () => {
    expect(isRetryableMongoError(new MongoNetworkError('reset'))).toBe(true);
    expect(isRetryableMongoError(new MongoServerError({ code: 2, errmsg: 'x', errorLabels: ['RetryableWriteError'] }))).toBe(true);
    expect(isRetryableMongoError(new MongoServerError({ code: 10107, errmsg: 'not primary' }))).toBe(true);
    expect(isRetryableMongoError(new MongoServerError({ code: 11000, errmsg: 'dup' }))).toBe(false);
    expect(isRetryableMongoError(new MongoServerError({ code: 121, errmsg: 'validation' }))).toBe(false);
    expect(isRetryableMongoError(new BackfillError('DB_CONNECTION', 'x'))).toBe(false);
    expect(isRetryableMongoError('string')).toBe(false);
  });
});

describe('withMongoRetry', () => {
  it('retries a retryable failure and returns the later success', async () => {
    const attempts: number[] = [];
    const value = await withMongoRetry(
      async (n) => {
        attempts.push(n);
        if (n < 3) throw new MongoNetworkError('reset');
        return 'done';
      },
      { maxAttempts: 3, delayMs: 1 },
    );
    expect(value).toBe('done');
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    const p = withMongoRetry(
      async () => {
        calls += 1;
        throw new MongoNetworkError(`reset ${calls}`);
      },
      { maxAttempts: 4, delayMs: 1 },
    );
    await expect(p).rejects.toThrow('reset 4');
    expect(calls).toBe(4);
  });

  it('does not retry what a retry cannot fix', async () => {
    let calls = 0;
    await expect(
      withMongoRetry(
        async () => {
          calls += 1;
          throw new MongoServerError({ code: 11000, errmsg: 'dup' });
        },
        { maxAttempts: 5, delayMs: 1 },
      ),
    ).rejects.toThrow('dup');
    expect(calls).toBe(1);
  });

  it('stops waiting when the signal aborts', async () => {
    const ac = new AbortController();
    const warnings: string[] = [];
    const p = withMongoRetry(
      async () => {
        throw new MongoNetworkError('reset');
      },
      { maxAttempts: 5, delayMs: 60_000, signal: ac.signal, logger: { info() {}, warn: (m) => warnings.push(m), error() {} } },
    );
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(warnings).toHaveLength(1);
  });
});
