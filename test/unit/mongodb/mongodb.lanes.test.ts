import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { sendInLanes } from '../../../src/mongodb/batching.js';

interface Item {
  readonly key: string;
  readonly seq: number;
  readonly bytes: number;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function* chunksOf<T>(items: readonly T[], size: number, onPull?: () => void): AsyncGenerator<T[]> {
  for (let i = 0; i < items.length; i += size) {
    onPull?.();
    yield items.slice(i, i + size);
  }
}

/** A writer that records what it was given and how many calls overlapped. */
function recorder(rnd: () => number, maxDelayMs = 3) {
  const batches: Item[][] = [];
  const completed: Item[] = [];
  let running = 0;
  let maxRunning = 0;
  return {
    batches,
    completed,
    get maxRunning() {
      return maxRunning;
    },
    send: async (batch: Item[]): Promise<void> => {
      batches.push(batch);
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await sleep(Math.floor(rnd() * maxDelayMs));
      running -= 1;
      completed.push(...batch);
    },
  };
}

function items(n: number, keys: number, rnd: () => number): Item[] {
  return Array.from({ length: n }, (_, seq) => ({ key: `k${Math.floor(rnd() * keys)}`, seq, bytes: 1 + Math.floor(rnd() * 100) }));
}

describe('sendInLanes', () => {
  it('sends every item once, in bounded batches, with several lanes busy but never more than `lanes`', async () => {
    const rnd = lcg(1);
    const input = items(2000, 500, rnd);
    const rec = recorder(rnd);
    const sent = await sendInLanes(chunksOf(input, 64), {
      lanes: 4,
      keyOf: (i) => i.key,
      sizeOf: (i) => i.bytes,
      limits: { maxCount: 25, maxBytes: 1500 },
      send: rec.send,
    });
    expect(sent).toBe(2000);
    expect(rec.completed.map((i) => i.seq).sort((a, b) => a - b)).toEqual(input.map((i) => i.seq));
    for (const b of rec.batches) {
      expect(b.length).toBeLessThanOrEqual(25);
      if (b.length > 1) expect(b.reduce((n, i) => n + i.bytes, 0)).toBeLessThanOrEqual(1500);
    }
    expect(rec.maxRunning).toBeLessThanOrEqual(4);
    expect(rec.maxRunning).toBeGreaterThan(1);
  });

  it('writes items that share a key in input order, whatever the timing', async () => {
    for (const seed of [2, 3, 4]) {
      const rnd = lcg(seed);
      const input = items(1500, 40, rnd);
      const rec = recorder(rnd, 5);
      await sendInLanes(chunksOf(input, 50), {
        lanes: 3,
        keyOf: (i) => i.key,
        sizeOf: (i) => i.bytes,
        limits: { maxCount: 10, maxBytes: 10_000 },
        send: rec.send,
      });
      const byKey = new Map<string, number[]>();
      for (const i of rec.completed) byKey.set(i.key, [...(byKey.get(i.key) ?? []), i.seq]);
      for (const seqs of byKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it('with uniqueKeysPerBatch, no batch holds a key twice', async () => {
    const rnd = lcg(5);
    const input = items(800, 30, rnd);
    const rec = recorder(rnd);
    const sent = await sendInLanes(chunksOf(input, 40), {
      lanes: 2,
      keyOf: (i) => i.key,
      sizeOf: () => 1,
      limits: { maxCount: 50, maxBytes: 1e9 },
      uniqueKeysPerBatch: true,
      send: rec.send,
    });
    expect(sent).toBe(800);
    for (const b of rec.batches) expect(new Set(b.map((i) => i.key)).size).toBe(b.length);
  });

  it('stops reading at the first failed batch, lets in-flight ones finish, and throws that failure', async () => {
    const rnd = lcg(6);
    const input = items(5000, 1000, rnd);
    let pulls = 0;
    let calls = 0;
    const boom = new Error('write 3 failed');
    const p = sendInLanes(
      chunksOf(input, 20, () => (pulls += 1)),
      {
        lanes: 2,
        keyOf: (i) => i.key,
        sizeOf: () => 1,
        limits: { maxCount: 10, maxBytes: 1e9 },
        send: async () => {
          calls += 1;
          const mine = calls;
          await sleep(2);
          if (mine === 3) throw boom;
        },
      },
    );
    await expect(p).rejects.toBe(boom);
    expect(calls).toBeLessThan(10);
    expect(pulls).toBeLessThan(10);
  });

  it('a source that throws fails the send after in-flight batches settle', async () => {
    let started = 0;
    let settled = 0;
    async function* broken(): AsyncGenerator<Item[]> {
      yield [0, 1, 2].map((seq) => ({ key: 'a', seq, bytes: 1 }));
      throw new Error('tar stream corrupt');
    }
    const p = sendInLanes(broken(), {
      lanes: 2,
      keyOf: (i) => i.key,
      sizeOf: () => 1,
      limits: { maxCount: 1, maxBytes: 1e9 },
      send: async () => {
        started += 1;
        await sleep(5);
        settled += 1;
      },
    });
    await expect(p).rejects.toThrow('tar stream corrupt');
    expect(started).toBeGreaterThan(0);
    expect(settled).toBe(started);
  });

  it('reads lazily: a slow writer holds the reader back', async () => {
    let pulls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const input = Array.from({ length: 100 }, (_, seq) => ({ key: 'same', seq, bytes: 1 }));
    const p = sendInLanes(
      chunksOf(input, 1, () => (pulls += 1)),
      { lanes: 4, keyOf: (i) => i.key, sizeOf: () => 1, limits: { maxCount: 2, maxBytes: 1e9 }, send: () => gate },
    );
    await sleep(20);
    // One key → one lane: one batch in flight, one being gathered, then the reader waits.
    expect(pulls).toBeLessThanOrEqual(5);
    release();
    expect(await p).toBe(100);
  });
});
