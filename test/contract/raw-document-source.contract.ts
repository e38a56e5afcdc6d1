/**
 * The RawDocumentSource port's contract (src/statements/ports.ts): keyset
 * pages in ascending (retrievedAt, digest), exact resume from a cursor.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DocumentCursor, RawDocument, RawDocumentSource } from '../../src/statements/ports.js';

/** A document to store before reading. Times are whole milliseconds, which every store keeps exactly. */
export interface SeedDocument {
  readonly digest: string;
  readonly retrievedAt: Date;
  readonly content: string;
}

/** One source over a fresh, empty store, and a way to fill it. */
export interface RawDocumentSourceFixture {
  readonly source: RawDocumentSource;
  append(documents: readonly SeedDocument[]): Promise<void>;
  cleanup(): Promise<void>;
}

/** 40 documents over 12 distinct times, so many share a timestamp (ties broken by digest). */
function corpus(): SeedDocument[] {
  const base = Date.UTC(2025, 9, 19, 8, 0, 0, 0);
  const docs: SeedDocument[] = [];
  for (let i = 0; i < 40; i += 1) {
    // Digests deliberately not in time order.
    const digest = `sha256:${((i * 7919) % 40).toString(16).padStart(2, '0')}${'ab'.repeat(31)}`;
    docs.push({ digest, retrievedAt: new Date(base + (i % 12) * 1500 + (i % 3)), content: JSON.stringify({ n: i, text: 'ü\n"quoted"' }) });
  }
  return docs;
}

function expectedOrder(docs: readonly SeedDocument[]): SeedDocument[] {
  return [...docs].sort(
    (x, y) => x.retrievedAt.getTime() - y.retrievedAt.getTime() || (x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0),
  );
}

async function readAll(
  source: RawDocumentSource,
  limit: number,
  options: { after?: DocumentCursor; retrievedSince?: Date } = {},
): Promise<RawDocument[]> {
  const out: RawDocument[] = [];
  let after = options.after;
  for (let guard = 0; guard < 1000; guard += 1) {
    const page = (
      await source.readPage({
        limit,
        ...(after === undefined ? {} : { after }),
        ...(options.retrievedSince === undefined ? {} : { retrievedSince: options.retrievedSince }),
      })
    )._unsafeUnwrap();
    expect(page.length).toBeLessThanOrEqual(limit);
    if (page.length === 0) return out;
    out.push(...page);
    after = page[page.length - 1]!.cursor;
  }
  throw new Error('pagination did not end');
}

function text(content: RawDocument['content']): string {
  if (typeof content === 'string') return content;
  if (content instanceof Uint8Array) return Buffer.from(content).toString('utf8');
  return JSON.stringify(content);
}

/**
 * The assertions every {@link RawDocumentSource} must pass.
 *
 * @param name - shown in the test titles
 * @param make - builds a fresh, empty fixture for one test
 */
export function rawDocumentSourceContract(name: string, make: () => Promise<RawDocumentSourceFixture>): void {
  describe(`RawDocumentSource contract: ${name}`, () => {
    let fx: RawDocumentSourceFixture | undefined;
    const fixture = async (): Promise<RawDocumentSourceFixture> => {
      fx = await make();
      return fx;
    };
    afterEach(async () => {
      await fx?.cleanup();
      fx = undefined;
    });

    it('an empty store gives an empty first page', async () => {
      const f = await fixture();
      expect((await f.source.readPage({ limit: 10 }))._unsafeUnwrap()).toEqual([]);
    });

    it.each([1, 3, 7, 40, 100])('pages of %i visit every document once, in (retrievedAt, digest) order', async (limit) => {
      const f = await fixture();
      const docs = corpus();
      await f.append(docs);
      const got = await readAll(f.source, limit);
      expect(got.map((d) => d.digest)).toEqual(expectedOrder(docs).map((d) => d.digest));
      for (const d of got) {
        const want = docs.find((x) => x.digest === d.digest)!;
        expect(d.retrievedAt.getTime()).toBe(want.retrievedAt.getTime());
        expect(text(d.content)).toBe(want.content);
        expect(d.cursor.digest).toBe(d.digest);
        expect(new Date(d.cursor.retrievedAt).getTime()).toBe(want.retrievedAt.getTime());
      }
    });

    it('a cursor saved as JSON resumes exactly after its document, even inside a run of equal timestamps', async () => {
      const f = await fixture();
      const docs = corpus();
      await f.append(docs);
      const order = expectedOrder(docs);
      const all = await readAll(f.source, 100);
      for (const cut of [0, 1, 5, 13, 38, 39]) {
        const saved = JSON.parse(JSON.stringify(all[cut]!.cursor)) as DocumentCursor;
        const rest = await readAll(f.source, 4, { after: saved });
        expect(rest.map((d) => d.digest)).toEqual(order.slice(cut + 1).map((d) => d.digest));
        if (f.source.count !== undefined) expect((await f.source.count({ after: saved }))._unsafeUnwrap()).toBe(39 - cut);
      }
    });

    it('retrievedSince is inclusive and combines with the cursor', async () => {
      const f = await fixture();
      const docs = corpus();
      await f.append(docs);
      const order = expectedOrder(docs);
      const since = order[10]!.retrievedAt;
      const want = order.filter((d) => d.retrievedAt.getTime() >= since.getTime());
      const got = await readAll(f.source, 6, { retrievedSince: since });
      expect(got.map((d) => d.digest)).toEqual(want.map((d) => d.digest));
      if (f.source.count !== undefined) expect((await f.source.count({ retrievedSince: since }))._unsafeUnwrap()).toBe(want.length);
      const after = got[2]!.cursor;
      expect((await readAll(f.source, 6, { retrievedSince: since, after })).map((d) => d.digest)).toEqual(
        want.slice(3).map((d) => d.digest),
      );
    });

    it('a document appended later than the cursor is picked up by the next page', async () => {
      const f = await fixture();
      const docs = corpus();
      await f.append(docs.slice(0, 20));
      const first = await readAll(f.source, 100);
      const late: SeedDocument = { digest: 'sha256:ff', retrievedAt: new Date(Date.UTC(2026, 0, 1)), content: '{}' };
      await f.append([late]);
      const next = (await f.source.readPage({ limit: 10, after: first[first.length - 1]!.cursor }))._unsafeUnwrap();
      expect(next.map((d) => d.digest)).toEqual(['sha256:ff']);
    });
  });
}
