/**
 * MongoRawDocumentSource over the recording driver fake: documents whose
 * `retrievedAt` is not a Date are refused up front, naming one of them,
 * instead of failing every fresh run's first page or being skipped silently
 * by `retrievedSince` and resumed runs; append counts the documents it
 * stored even when a retry repeats a write whose reply was lost.
 */
import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { MongoRawDocumentSource, positionProblem } from '../../../src/mongodb/mongo-raw-document-source.js';
import { FakeMongo, networkError } from '../../support/recording-mongo-fake.js';

async function sourceWith(extra: Record<string, unknown>) {
  const fake = new FakeMongo();
  const db = fake.db() as unknown as Db;
  const source = new MongoRawDocumentSource({ db });
  (await source.prepare())._unsafeUnwrap();
  (
    await source.append([
      { digest: 'sha256:a', retrievedAt: new Date('2025-10-19T08:00:00Z'), content: '{}' },
      { digest: 'sha256:b', retrievedAt: new Date('2025-10-20T08:00:00Z'), content: '{}' },
    ])
  )._unsafeUnwrap();
  await db.collection('raw_documents').insertOne({ _id: 'bad-1', digest: 'sha256:bad', content: '{}', ...extra } as never);
  return { fake, source };
}

describe('positionProblem', () => {
  it.each([
    [{ digest: 'd', retrievedAt: new Date(0) }, undefined],
    [{ digest: 'd', retrievedAt: '2025-10-19T08:00:00Z' }, 'retrievedAt is a string, not a Date'],
    [{ digest: 'd', retrievedAt: null }, 'retrievedAt is null, not a Date'],
    [{ digest: 'd' }, 'retrievedAt is missing, not a Date'],
    [{ digest: 'd', retrievedAt: new Date(Number.NaN) }, 'retrievedAt is an invalid Date, not a Date'],
    [{ digest: 7, retrievedAt: new Date(0) }, 'digest is a number, not a string'],
  ])('%o → %s', (row, problem) => {
    expect(positionProblem(row)).toBe(problem);
  });
});

describe.each([
  ['a string', { retrievedAt: '2025-10-21T08:00:00Z' }],
  ['null', { retrievedAt: null }],
  ['missing', {}],
])('a raw document whose retrievedAt is %s', (_name, extra) => {
  it.each([
    ['a fresh run', {}],
    ['a run with retrievedSince', { retrievedSince: new Date('2025-10-20T00:00:00Z') }],
    ['a resumed run', { after: { retrievedAt: '2025-10-19T08:00:00.000Z', digest: 'sha256:a' } }],
  ])('is refused by %s with DOCUMENT_INVALID naming it and the count', async (_run, query) => {
    const { source } = await sourceWith(extra);
    const r = await source.readPage({ limit: 10, ...query });
    const e = r._unsafeUnwrapErr();
    expect(e.code).toBe('DOCUMENT_INVALID');
    expect(e.context).toMatchObject({ id: 'bad-1', digest: 'sha256:bad', count: 1 });
    expect(e.message).toContain('_id bad-1');
  });
});

it('a clean collection pages as before, and the check reads the primary', async () => {
  const fake = new FakeMongo();
  const source = new MongoRawDocumentSource({ db: fake.db() as unknown as Db });
  (await source.append([{ digest: 'sha256:a', retrievedAt: new Date(0), content: '{}' }]))._unsafeUnwrap();
  expect((await source.readPage({ limit: 10 }))._unsafeUnwrap().map((d) => d.digest)).toEqual(['sha256:a']);
  for (const c of fake.calls.filter((x) => x.op === 'find'))
    expect(c.options).toMatchObject({ readPreference: 'primary', readConcern: { level: 'majority' } });
});

it('a page holds at most maxBytes of content but always its first document, as the PostgreSQL source', async () => {
  const fake = new FakeMongo();
  const source = new MongoRawDocumentSource({ db: fake.db() as unknown as Db });
  // Content bytes 100, 100, 100, 500 (2-byte characters), 100, 100.
  const sizes = ['a'.repeat(100), 'b'.repeat(100), 'c'.repeat(100), 'é'.repeat(250), 'd'.repeat(100), 'e'.repeat(100)];
  (await source.append(sizes.map((content, i) => ({ digest: `sha256:${i}`, retrievedAt: new Date(i * 1000), content }))))._unsafeUnwrap();
  const pages: string[][] = [];
  let after: { retrievedAt: string; digest: string } | undefined;
  for (;;) {
    const page = (await source.readPage({ limit: 10, maxBytes: 250, ...(after === undefined ? {} : { after }) }))._unsafeUnwrap();
    if (page.length === 0) break;
    pages.push(page.map((d) => d.digest.slice('sha256:'.length)));
    after = page[page.length - 1]?.cursor;
  }
  expect(pages).toEqual([['0', '1'], ['2'], ['3'], ['4', '5']]);
  expect((await source.readPage({ limit: 10 }))._unsafeUnwrap()).toHaveLength(6);
});

describe('append reads a text retrievedAt as the rest of the library reads times', () => {
  it.for([
    ['2025-10-19T08:00:00', '2025-10-19T08:00:00.000Z'],
    ['2025-10-19 08:00:00.123', '2025-10-19T08:00:00.123Z'],
    ['2025-10-19T10:00:00+02:00', '2025-10-19T08:00:00.000Z'],
    ['2025-10-19', '2025-10-19T00:00:00.000Z'],
  ] as const)('%s without an offset is UTC, not the host’s time zone (%s)', async ([text, iso]) => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const fake = new FakeMongo();
      const source = new MongoRawDocumentSource({ db: fake.db() as unknown as Db });
      expect((await source.append([{ digest: 'sha256:a', retrievedAt: text, content: '{}' }]))._unsafeUnwrap()).toBe(1);
      const stored = (fake.documents('raw_documents') ?? []).map((d) => (d.retrievedAt as Date).toISOString());
      expect(stored).toEqual([iso]);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it.for(['Jan 1 2024', '1', '2024-02-30', '2025-10-19T24:00:00'])('%j is INVALID_ARGUMENT, and nothing is stored', async (text) => {
    const fake = new FakeMongo();
    const source = new MongoRawDocumentSource({ db: fake.db() as unknown as Db });
    const r = await source.append([{ digest: 'sha256:a', retrievedAt: text, content: '{}' }]);
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(fake.documents('raw_documents') ?? []).toEqual([]);
  });
});

describe('append whose write reached the server but whose reply was lost', () => {
  it('counts the documents the lost attempt stored, not only those the retry stored', async () => {
    const fake = new FakeMongo();
    const source = new MongoRawDocumentSource({ db: fake.db() as unknown as Db, retryDelayMs: 1 });
    (await source.append([{ digest: 'sha256:old', retrievedAt: new Date(0), content: '{}' }]))._unsafeUnwrap();
    fake.failOn({ op: 'update', ns: 'raw_documents', when: 'after', error: () => networkError() });
    const appended = await source.append(
      ['sha256:old', 'sha256:a', 'sha256:b'].map((digest) => ({ digest, retrievedAt: new Date(1000), content: '{}' })),
    );
    expect(fake.calls.filter((c) => c.op === 'update' && c.ns === 'raw_documents')).toHaveLength(3);
    expect(appended._unsafeUnwrap()).toBe(2);
    expect((fake.documents('raw_documents') ?? []).map((d) => d.digest).sort()).toEqual(['sha256:a', 'sha256:b', 'sha256:old']);
    // Appended again, all three are there already.
    expect((await source.append([{ digest: 'sha256:a', retrievedAt: new Date(0), content: '{}' }]))._unsafeUnwrap()).toBe(0);
  });
});

describe('a resume cursor (a checkpoint edited by hand, say) is read as the rest of the library reads times', () => {
  /** Documents a, c, b at 08:00Z, 10:00Z and the next day; the pages after `retrievedAt` (cursor digest sha256:a), read in New York. */
  async function pagesAfter(retrievedAt: string) {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const fake = new FakeMongo();
      const source = new MongoRawDocumentSource({ db: fake.db() as unknown as Db });
      const docs = [
        { digest: 'sha256:a', retrievedAt: new Date('2025-10-19T08:00:00Z'), content: '{}' },
        { digest: 'sha256:c', retrievedAt: new Date('2025-10-19T10:00:00Z'), content: '{}' },
        { digest: 'sha256:b', retrievedAt: new Date('2025-10-20T08:00:00Z'), content: '{}' },
      ];
      (await source.append(docs))._unsafeUnwrap();
      const query = { after: { retrievedAt, digest: 'sha256:a' } };
      const page = await source.readPage({ limit: 10, ...query });
      const count = await source.count(query);
      return { page: page.map((p) => p.map((d) => d.digest)), count };
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  }

  it.for([
    ['2025-10-19T08:00:00', ['sha256:c', 'sha256:b']],
    ['2025-10-19 10:00:00+02:00', ['sha256:c', 'sha256:b']],
    ['2025-10-19T08:00:00.000Z', ['sha256:c', 'sha256:b']],
    ['2025-10-19T07:59:59.9995Z', ['sha256:a', 'sha256:c', 'sha256:b']],
    ['2025-10-19T10:00:00.0005Z', ['sha256:b']],
    ['+010000-01-01T00:00:00.000Z', []],
  ] as const)('%s without an offset is UTC, not the host’s zone: the page and count hold %j', async ([text, digests]) => {
    const { page, count } = await pagesAfter(text);
    expect(page._unsafeUnwrap()).toEqual(digests);
    expect(count._unsafeUnwrap()).toBe(digests.length);
  });

  it.for(['Jan 1 2024', '1', '2024-02-30T00:00:00Z', '2025-10-19T24:00:00'])('%j is INVALID_ARGUMENT, not a guessed date', async (text) => {
    const { page, count } = await pagesAfter(text);
    expect(page.isErr() && page.error.code).toBe('INVALID_ARGUMENT');
    expect(count.isErr() && count.error.code).toBe('INVALID_ARGUMENT');
  });
});
