/**
 * The body of a normalizer thread (started by {@link NormalizerThreads}):
 * it normalizes each chunk of documents it is sent with the built-in
 * normalizers and sends back, per document, its claims or its error's
 * code, message, context and cause.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { normalizeDocument, type NormalizableDocument } from './normalize.js';
import { defaultVexNormalizers } from './defaults.js';
import type { ThreadAnswer, ThreadChunk, ThreadResult, ThreadSetup } from './normalizer-threads.js';

const port = parentPort;
if (port === null) throw new Error('normalizer-thread-main.js runs in a worker thread');
const { taken } = workerData as ThreadSetup;
const answer = (a: ThreadAnswer | 'ready'): void => port.postMessage(a);
port.on('message', ({ id, slot, docs, maxClaimBytes }: ThreadChunk<NormalizableDocument>) => {
  // The calling thread may have taken the chunk first.
  if (Atomics.compareExchange(taken, slot, 0, 1) !== 0) return answer({ id, results: null });
  const results = docs.map((doc): ThreadResult => {
    const done = normalizeDocument(defaultVexNormalizers, doc, maxClaimBytes);
    if (done.isOk()) return { ok: done.value };
    // A cause that cannot be copied fails the answer and ends the thread: the calling threads normalize its chunk again.
    const { code, message, context, cause } = done.error;
    return { code, message, context, cause };
  });
  answer({ id, results });
});
answer('ready');
