/** Test help for NormalizerThreads: how soon a thread answers depends on the machine's load. */
import type { NormalizableDocument } from '../../../src/statements/normalize.js';
import type { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';

/**
 * Calls `pool.normalize(docs)` until the threads have answered for some of
 * the documents (the calling thread may do a whole call alone on a busy
 * machine), at most `calls` times, and returns every call's results, to be
 * checked each.
 */
export async function untilThreadsTakePart(
  pool: NormalizerThreads,
  docs: readonly NormalizableDocument[],
  calls = 50,
): Promise<Awaited<ReturnType<NormalizerThreads['normalize']>>[]> {
  const all: Awaited<ReturnType<NormalizerThreads['normalize']>>[] = [];
  const before = pool.documentsByThreads;
  while (all.length < calls && pool.documentsByThreads === before) all.push(await pool.normalize(docs));
  return all;
}
