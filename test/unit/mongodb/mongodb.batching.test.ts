import { BSON, UnorderedBulkOperation } from 'mongodb';
import { loadUpdateStatement } from '../../../src/mongodb/bson.js';
import { describe, expect, it } from 'vitest';
import { BatchAccumulator, checkDocumentSize, rebatch, splitBatches, validateBatchLimits } from '../../../src/mongodb/batching.js';
import { DEFAULT_MAX_BSON_OBJECT_SIZE } from '../../../src/mongodb/defaults.js';

/** A tiny deterministic PRNG, so the randomized cases replay exactly. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('splitBatches', () => {
  it('closes a batch at the count limit', () => {
    expect([...splitBatches([1, 1, 1, 1, 1], (n) => n, { maxCount: 2, maxBytes: 1000 })]).toEqual([[1, 1], [1, 1], [1]]);
  });

  it('closes a batch at the byte limit, and an item at exactly the limit still fits', () => {
    expect([...splitBatches([4, 6, 1, 9, 1], (n) => n, { maxCount: 100, maxBytes: 10 })]).toEqual([[4, 6], [1, 9], [1]]);
  });

  it('sends an item larger than maxBytes on its own, never an empty batch', () => {
    expect([...splitBatches([5, 5, 5, 20, 1], (n) => n, { maxCount: 10, maxBytes: 10 })]).toEqual([[5, 5], [5], [20], [1]]);
    expect([...splitBatches([], (n: number) => n, { maxCount: 1, maxBytes: 1 })]).toEqual([]);
  });

  it('keeps order and loses nothing, and every batch respects both limits (randomized)', () => {
    const rnd = lcg(9);
    for (let round = 0; round < 100; round += 1) {
      const items = Array.from({ length: Math.floor(rnd() * 300) }, (_, i) => ({ i, bytes: 1 + Math.floor(rnd() * 500) }));
      const limits = { maxCount: 1 + Math.floor(rnd() * 50), maxBytes: 1 + Math.floor(rnd() * 3000) };
      const batches = [...splitBatches(items, (x) => x.bytes, limits)];
      expect(batches.flat().map((x) => x.i)).toEqual(items.map((x) => x.i));
      for (const [k, b] of batches.entries()) {
        expect(b.length).toBeGreaterThan(0);
        expect(b.length).toBeLessThanOrEqual(limits.maxCount);
        const bytes = b.reduce((n, x) => n + x.bytes, 0);
        if (b.length > 1) expect(bytes).toBeLessThanOrEqual(limits.maxBytes);
        // Greedy: the next batch's first item would not have fitted into this one.
        const next = batches[k + 1]?.[0];
        if (next !== undefined) expect(b.length === limits.maxCount || bytes + next.bytes > limits.maxBytes).toBe(true);
      }
    }
  });
});

describe('rebatch', () => {
  it('re-cuts incoming chunks of any size into bounded batches', async () => {
    async function* chunks(): AsyncGenerator<number[]> {
      yield [1, 2, 3, 4, 5, 6, 7];
      yield [];
      yield [8];
      yield [9, 10];
    }
    const out: number[][] = [];
    for await (const b of rebatch(chunks(), () => 1, { maxCount: 3, maxBytes: 100 })) out.push(b);
    expect(out).toEqual([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]);
  });

  it('pulls lazily and closes the source when the consumer stops', async () => {
    let pulled = 0;
    let closed = false;
    async function* chunks(): AsyncGenerator<number[]> {
      try {
        for (;;) {
          pulled += 1;
          yield [1, 1, 1];
        }
      } finally {
        closed = true;
      }
    }
    for await (const b of rebatch(chunks(), () => 1, { maxCount: 2, maxBytes: 100 })) {
      expect(b).toEqual([1, 1]);
      break;
    }
    expect(pulled).toBe(1);
    expect(closed).toBe(true);
  });
});

describe('BatchAccumulator and validateBatchLimits', () => {
  it('hands back the full batch before the item that does not fit', () => {
    const acc = new BatchAccumulator<string>({ maxCount: 2, maxBytes: 100 });
    expect(acc.add('a', 10)).toBeUndefined();
    expect(acc.add('b', 10)).toBeUndefined();
    expect(acc.add('c', 10)).toEqual(['a', 'b']);
    expect(acc.flush()).toEqual(['c']);
    expect(acc.flush()).toBeUndefined();
  });

  it.each([
    [{ maxCount: 0, maxBytes: 10 }, 'batchSize'],
    [{ maxCount: 1.5, maxBytes: 10 }, 'batchSize'],
    [{ maxCount: 10, maxBytes: 0 }, 'batchBytes'],
    [{ maxCount: 10, maxBytes: Number.NaN }, 'batchBytes'],
  ])('rejects %o naming %s', (limits, name) => {
    const r = validateBatchLimits(limits);
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain(name);
  });
});

describe('checkDocumentSize (the driver’s BSON calculator)', () => {
  it('draws the line where the driver does: a document of limit − 1 bytes passes, one of exactly the limit is refused, naming table, member, line and id', () => {
    const overhead = BSON.calculateObjectSize({ _id: 'big', s: '' });
    const limit = 1024;
    const sized = (bytes: number) => ({ _id: 'big', s: 'x'.repeat(bytes - overhead) });
    expect(BSON.serialize(sized(limit)).length).toBe(limit);
    expect(checkDocumentSize(sized(limit - 1), BSON, limit)._unsafeUnwrap()).toBe(limit - 1);
    const r = checkDocumentSize(sized(limit), BSON, limit, { table: 'linksets_raw', member: 'linksets.ndjson', line: 41, id: 'big' });
    const e = r._unsafeUnwrapErr();
    expect(e.code).toBe('DOCUMENT_TOO_LARGE');
    expect(e.message).toBe(
      'linksets_raw, linksets.ndjson line 41: record "big" is 1024 bytes as BSON; the driver accepts at most 1023 (MongoDB\'s 1024-byte limit); shrink it.',
    );
    expect(e.context).toMatchObject({ table: 'linksets_raw', line: 41, id: 'big', bytes: 1024, limit: 1024 });
  });

  describe('agrees with the driver’s own bulk-write check (UnorderedBulkOperation.raw), byte for byte around the limit', () => {
    /** The driver's verdict: does its bulk builder accept `op` under `maxBsonObjectSize`? */
    function driverAccepts(op: Record<string, unknown>, maxBsonObjectSize: number): boolean {
      const bulk = Object.create(UnorderedBulkOperation.prototype) as { s: Record<string, unknown>; raw(op: unknown): unknown };
      bulk.s = {
        maxBsonObjectSize,
        maxBatchSizeBytes: 48_000_000,
        maxWriteBatchSize: 100_000,
        maxKeySize: 0,
        bsonOptions: {},
        checkKeys: false,
        usingAutoEncryption: false,
        currentIndex: 0,
        batches: [],
        bulkResult: { insertedIds: [] },
        options: {},
        collection: { db: { options: {} }, s: {} },
      };
      try {
        bulk.raw(op);
        return true;
      } catch (error) {
        if (/larger than the maximum/.test((error as Error).message)) return false;
        throw error;
      }
    }

    const limit = 2048;
    const overhead = BSON.calculateObjectSize({ _id: 'big', s: '' });
    const docs = Array.from({ length: 140 }, (_, i) => ({ _id: 'big', s: 'x'.repeat(limit - overhead - 120 + i) }));

    it('insert mode: the document alone', () => {
      for (const doc of docs) {
        expect({ bytes: BSON.calculateObjectSize(doc), ours: checkDocumentSize(doc, BSON, limit).isOk() }).toEqual({
          bytes: BSON.calculateObjectSize(doc),
          ours: driverAccepts({ insertOne: { document: doc } }, limit),
        });
      }
    });

    it('upsert mode: the whole { q, u, upsert } statement, built by the driver’s makeUpdateStatement', async () => {
      const make = (await loadUpdateStatement())._unsafeUnwrap();
      const statement = (d: Record<string, unknown>) => make({ _id: d._id }, d, { upsert: true, multi: false });
      let refusedAsStatementOnly = 0;
      for (const doc of docs) {
        const ours = checkDocumentSize(doc, BSON, limit, {}, statement).isOk();
        expect({ bytes: BSON.calculateObjectSize(doc), ours }).toEqual({
          bytes: BSON.calculateObjectSize(doc),
          ours: driverAccepts({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } }, limit),
        });
        if (!ours && checkDocumentSize(doc, BSON, limit).isOk()) refusedAsStatementOnly += 1;
      }
      expect(refusedAsStatementOnly).toBeGreaterThan(0); // the statement's overhead matters
    });
  });

  it('names the line even without a member', () => {
    const r = checkDocumentSize({ s: 'x'.repeat(100) }, BSON, 50, { table: 't', line: 7, id: 'a' });
    expect(r._unsafeUnwrapErr().message).toMatch(/^t, line 7: record "a" is \d+ bytes/);
  });

  it('rejects a 17 MiB record against the real 16 MiB limit', () => {
    const doc = { _id: 'huge', blob: 'z'.repeat(17 * 1024 * 1024) };
    const r = checkDocumentSize(doc, BSON, DEFAULT_MAX_BSON_OBJECT_SIZE, { id: 'huge' });
    expect(r._unsafeUnwrapErr().code).toBe('DOCUMENT_TOO_LARGE');
    expect(DEFAULT_MAX_BSON_OBJECT_SIZE).toBe(16_777_216);
  });

  it('counts UTF-8 bytes, not UTF-16 units', () => {
    const ascii = checkDocumentSize({ s: 'aaaa' }, BSON, 100)._unsafeUnwrap();
    const multi = checkDocumentSize({ s: '€€€€' }, BSON, 100)._unsafeUnwrap();
    expect(multi - ascii).toBe(8); // '€' is 3 bytes in UTF-8, 1 code unit
  });
});
