/**
 * NormalizerThreads whose threads cannot start: Node throws from the Worker
 * constructor when it cannot create the thread (ERR_WORKER_INIT_FAILED: the
 * process or the user is out of threads). start() rejected with it, and the
 * distributed worker starts the threads without awaiting them (they load
 * while it waits for its first job): an unhandled rejection, which ends a
 * Node process that has no handler for one. Now the calling thread
 * normalizes what such a thread would have, as for a thread that dies
 * before it normalized anything. The test makes the constructor throw as
 * Node does then.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { normalizeDocument, type NormalizableDocument } from '../../../src/statements/normalize.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { collectUnobserved } from '../../support/unobserved.js';

vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  class UnstartableWorker extends real.Worker {
    constructor(...args: ConstructorParameters<typeof real.Worker>) {
      throw Object.assign(new Error('Worker initialization failure: EAGAIN'), { code: 'ERR_WORKER_INIT_FAILED' });
      // biome-ignore lint/correctness/noUnreachable: the subclass must name its base's constructor to type-check
      super(...args);
    }
  }
  return { ...real, Worker: UnstartableWorker };
});

const unobserved = collectUnobserved();
const docs: NormalizableDocument[] = [...generateVexDocuments({ seed: 92, count: 60, brokenRatio: 0.2 })].map((d) => ({
  digest: d.digest,
  retrievedAt: d.retrievedAt,
  content: d.content,
}));

describe('NormalizerThreads whose threads cannot start', () => {
  it('warns, leaves no rejection unhandled, and normalizes every document on the calling thread', async () => {
    const warnings: string[] = [];
    const logger = { info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
    await using threads = new NormalizerThreads({ threads: 2, logger });
    // As the distributed worker starts them: not awaited.
    void threads.start();
    // Wait for the failure to be told (a busy machine takes more than a few
    // turns to fail a thread's start), then let a rejection surface.
    await vi.waitFor(() => expect(warnings).not.toHaveLength(0), { timeout: 20_000, interval: 5 });
    for (let turn = 0; turn < 20; turn++) await nextTurn();
    expect(unobserved).toEqual({ rejections: [], exceptions: [] });
    const results = await threads.normalize(docs);
    const outcome = (r: ReturnType<typeof normalizeDocument>): unknown => (r.isOk() ? r.value : r.error.message);
    expect(results.map(outcome)).toEqual(docs.map((d) => outcome(normalizeDocument(defaultVexNormalizers, d))));
    expect(threads.documentsByThreads).toBe(0);
    expect(warnings.join('\n')).toMatch(/normalizer thread could not start \(Worker initialization failure: EAGAIN\)/);
  });
});
