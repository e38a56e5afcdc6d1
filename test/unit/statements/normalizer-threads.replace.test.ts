/**
 * NormalizerThreads when one of its threads dies: another starts in its
 * place if the dead one had normalized a chunk, none if it died before,
 * and either way every document gets the outcome it gets on the calling
 * thread. The threads are real; the test only records each Worker made,
 * so it can end one as a crash would, from outside the pool.
 */
import type { Worker } from 'node:worker_threads';
import { describe, expect, it, vi } from 'vitest';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { normalizeDocument, type NormalizableDocument } from '../../../src/statements/normalize.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { untilThreadsTakePart } from './threads-take-part.js';

const made = vi.hoisted((): Worker[] => []);
vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  class RecordedWorker extends real.Worker {
    constructor(...args: ConstructorParameters<typeof real.Worker>) {
      super(...args);
      made.push(this);
    }
  }
  return { ...real, Worker: RecordedWorker };
});

const docs: NormalizableDocument[] = [...generateVexDocuments({ seed: 91, count: 300, brokenRatio: 0.2 })].map((d) => ({
  digest: d.digest,
  retrievedAt: d.retrievedAt,
  content: d.content,
}));

function outcome(r: ReturnType<typeof normalizeDocument>): unknown {
  return r.isOk() ? r.value : { code: r.error.code, message: r.error.message };
}
const expected = docs.map((d) => outcome(normalizeDocument(defaultVexNormalizers, d)));

/** A pool with one thread and a logger that keeps its warnings. */
function pool(): { threads: NormalizerThreads; warnings: string[] } {
  const warnings: string[] = [];
  const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
  return { threads: new NormalizerThreads({ threads: 1, logger }), warnings };
}

describe('NormalizerThreads when a thread dies', () => {
  it('starts another in place of a thread that dies after it normalized a chunk, and loses nothing', async () => {
    const { threads, warnings } = pool();
    await using _ = threads;
    const first = made.length;
    await threads.start();
    const thread = made[first] as Worker;
    expect(made.length).toBe(first + 1);

    // Dies in the middle of a call, after it answered for some documents of it.
    let killed = false;
    for (let attempt = 0; attempt < 50 && !killed; attempt += 1) {
      let settled = false;
      const before = threads.documentsByThreads;
      const call = threads.normalize(docs).finally(() => {
        settled = true;
      });
      while (threads.documentsByThreads === before && !settled) await new Promise((resolve) => setImmediate(resolve));
      if (!settled) {
        await thread.terminate();
        killed = true;
      }
      expect((await call).map(outcome)).toEqual(expected);
    }
    expect(killed, 'the thread died in the middle of a call').toBe(true);

    await vi.waitFor(() => expect(made.length).toBe(first + 2));
    expect(warnings.join('\n')).toMatch(/normalizer thread died \(exit code 1\); starting another in its place/);
    // The new thread takes part, and the outcomes are still the calling thread's.
    const before = threads.documentsByThreads;
    for (const results of await untilThreadsTakePart(threads, docs)) expect(results.map(outcome)).toEqual(expected);
    expect(threads.documentsByThreads, 'the new thread normalized documents').toBeGreaterThan(before);
  });

  it('does not replace a thread that dies before it normalized anything; the calling thread does its share', async () => {
    const { threads, warnings } = pool();
    await using _ = threads;
    const first = made.length;
    await threads.start();
    await (made[first] as Worker).terminate();
    await vi.waitFor(() => expect(warnings.join('\n')).toMatch(/died \(exit code 1\) before it normalized anything; not replaced/));

    expect((await threads.normalize(docs)).map(outcome)).toEqual(expected);
    expect(made.length, 'no thread was started in its place').toBe(first + 1);
    expect(threads.documentsByThreads).toBe(0);
  });
});
