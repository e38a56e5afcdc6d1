/**
 * NormalizerThreads against normalizing on the calling thread: the same
 * claims and the same errors for every kind of document (broken ones
 * included), whatever the content's type, however many threads, and when
 * the threads end in the middle of a call. Invalid options and custom
 * normalizers are refused before any work.
 */
import { describe, expect, it } from 'vitest';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { normalizeDocument, type NormalizableDocument } from '../../../src/statements/normalize.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { untilThreadsTakePart } from './threads-take-part.js';
import { unusedSink, unusedSource } from './unused-ports.js';

const docs: NormalizableDocument[] = [...generateVexDocuments({ seed: 77, count: 300, brokenRatio: 0.2 })].map((d) => ({
  digest: d.digest,
  retrievedAt: d.retrievedAt,
  content: d.content,
}));

/** A document's outcome in comparable form: its claims, or its error's code and message. */
function outcome(r: ReturnType<typeof normalizeDocument>): unknown {
  return r.isOk() ? r.value : { code: r.error.code, message: r.error.message, digest: r.error.context['digest'] };
}

const here = (list: readonly NormalizableDocument[]): unknown[] => list.map((d) => outcome(normalizeDocument(defaultVexNormalizers, d)));

describe('NormalizerThreads', () => {
  it.each([1, 2])('with %i thread(s) gives each document the outcome it gets on the calling thread, in order', async (threads) => {
    await using pool = new NormalizerThreads({ threads });
    await pool.start();
    const expected = here(docs);
    expect(
      expected.some((o) => typeof o === 'object' && o !== null && 'code' in o),
      'the corpus has broken documents',
    ).toBe(true);
    for (const results of await untilThreadsTakePart(pool, docs)) expect(results.map(outcome)).toEqual(expected);
    expect(pool.documentsByThreads, 'the threads took part').toBeGreaterThan(0);
    // Several calls at once share the threads and keep their own documents.
    const [a, b] = await Promise.all([pool.normalize(docs.slice(0, 120)), pool.normalize(docs.slice(120))]);
    expect([...a, ...b].map(outcome)).toEqual(expected);
  });

  it('takes content as text, as UTF-8 bytes and as an already parsed object', async () => {
    await using pool = new NormalizerThreads({ threads: 1 });
    await pool.start();
    const good = docs.filter((d) => {
      try {
        JSON.parse(d.content as string);
        return true;
      } catch {
        return false;
      }
    });
    const bytes = good.map((d) => ({ ...d, content: new TextEncoder().encode(d.content as string) }));
    const objects = good.map((d) => ({ ...d, content: JSON.parse(d.content as string) as Record<string, unknown> }));
    const expected = here(good);
    expect((await pool.normalize(bytes)).map(outcome)).toEqual(expected);
    expect((await pool.normalize(objects)).map(outcome)).toEqual(expected);
    // Invalid UTF-8 fails its document alone, with the calling thread's message.
    const bad = [{ ...docs[0], content: new Uint8Array([0x7b, 0xff, 0x7d]) } as NormalizableDocument];
    expect((await pool.normalize(bad)).map(outcome)).toEqual(here(bad));
  });

  it('loses nothing when its threads end in the middle of a call: the caller normalizes what they held', async () => {
    const pool = new NormalizerThreads({ threads: 2 });
    await pool.start();
    const expected = here(docs);
    // The threads end while chunks are with them (as when a thread dies), after they answered some; a call the
    // calling thread finished alone (a busy machine) is checked and made again.
    let endedMidCall = false;
    for (let attempt = 0; attempt < 50 && !endedMidCall; attempt += 1) {
      let settled = false;
      const call = pool.normalize(docs).finally(() => {
        settled = true;
      });
      while (pool.documentsByThreads === 0 && !settled) await new Promise((resolve) => setImmediate(resolve));
      if (!settled) {
        await pool.close();
        endedMidCall = true;
      }
      expect((await call).map(outcome)).toEqual(expected);
    }
    expect(endedMidCall, 'the threads ended in the middle of a call').toBe(true);
    expect(pool.documentsByThreads).toBeLessThan(docs.length);
    // Closed, it still answers, on the calling thread.
    expect((await pool.normalize(docs.slice(0, 10))).map(outcome)).toEqual(here(docs.slice(0, 10)));
  });

  it.each([0, -1, 1.5, 64, Number.NaN])('refuses threads: %s', (threads) => {
    expect(new NormalizerThreads({ threads }).error?.code).toBe('INVALID_ARGUMENT');
  });
});

describe('StatementBackfiller and workers given threads', () => {
  const source = unusedSource;
  const sink = unusedSink;

  it('refuse threads with custom normalizers (threads normalize with the built-in ones) and invalid threads, before any work', async () => {
    await using threads = new NormalizerThreads({ threads: 1 });
    const custom = await new StatementBackfiller({ source, sink, normalizers: [openVexNormalizer], normalizerThreads: threads }).run();
    expect(custom._unsafeUnwrapErr().message).toMatch(/built-in normalizers only/);
    const invalid = await new StatementBackfiller({
      source,
      sink,
      normalizers: defaultVexNormalizers,
      normalizerThreads: new NormalizerThreads({ threads: 0 }),
    }).run();
    expect(invalid._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    const unreachable = 'postgres://nobody@127.0.0.1:1/none';
    const worker = await runBackfillWorker({ connectionString: unreachable, normalizers: [openVexNormalizer] }, { threads: 1 });
    expect(worker._unsafeUnwrapErr().message).toMatch(/built-in normalizers only/);
    expect((await runBackfillWorker({ connectionString: unreachable }, { threads: 99 }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    // A copy of the built-in list is the built-in normalizers: both checks let it through to the database.
    const copied = await runBackfillWorker(
      { connectionString: unreachable, normalizers: [...defaultVexNormalizers] },
      { threads: 1, reconnectSeconds: 0 },
    );
    expect(copied._unsafeUnwrapErr().code).toBe('DB_CONNECTION');
  });
});
