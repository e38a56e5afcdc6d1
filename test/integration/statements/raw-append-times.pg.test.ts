/**
 * PgRawDocumentSource.append stores each retrievedAt as the instant it
 * names, whatever the session's time zone, and refuses text PostgreSQL
 * would read some other way (or as no fixed instant at all).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';

let db: TestDatabase;
/** A pool whose sessions read times without an offset in New York, not UTC. */
let newYork: pg.Pool;
/** Set once the teardown has begun. */
let ended = false;

beforeAll(async () => {
  db = await createTestDatabase();
  newYork = new pg.Pool({ connectionString: db.url, max: 2, options: '-c TimeZone=America/New_York' });
  // pool.end() resolves before its sockets close, so the drop's FORCE can still terminate one (57P01):
  // that is the teardown (as in test/support/pg.ts); any other idle-connection error fails the run.
  newYork.on('error', (error) => {
    if (!ended) throw error;
  });
});
afterAll(async () => {
  ended = true;
  await newYork.end();
  await db.drop();
});

async function storedTimes(table: string): Promise<Record<string, string>> {
  const rows = await db.query<{ digest: string; at: string }>(
    `SELECT digest, to_char(retrieved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at FROM ${table} ORDER BY digest`,
  );
  return Object.fromEntries(rows.map((r) => [r.digest, r.at]));
}

describe('PgRawDocumentSource.append retrievedAt', () => {
  it('stores text without an offset as UTC, keeps an offset and every microsecond, whatever the session time zone', async () => {
    const source = new PgRawDocumentSource({ pg: newYork, table: 'times_ok.raw' });
    (await source.prepare())._unsafeUnwrap();
    const added = await source.append([
      { digest: 'a', retrievedAt: '2024-01-01T00:00:00.123456', content: '{}' },
      { digest: 'b', retrievedAt: '2024-01-01T02:00:00+02:00', content: '{}' },
      { digest: 'c', retrievedAt: '2024-03-10 07:30:00.5z', content: '{}' },
      { digest: 'd', retrievedAt: '2024-07-01', content: '{}' },
      { digest: 'e', retrievedAt: new Date(Date.UTC(2024, 5, 30, 23, 59, 59, 999)), content: '{}' },
    ]);
    expect(added._unsafeUnwrap()).toBe(5);
    expect(await storedTimes('times_ok.raw')).toEqual({
      a: '2024-01-01T00:00:00.123456',
      b: '2024-01-01T00:00:00.000000',
      c: '2024-03-10T07:30:00.500000',
      d: '2024-07-01T00:00:00.000000',
      e: '2024-06-30T23:59:59.999000',
    });
  });

  it.for([
    ['Jan 1 2024', 'a date PostgreSQL would guess at'],
    ['now', "PostgreSQL's moving word"],
    ['infinity', 'no instant at all'],
    ['2024-02-30T00:00:00Z', 'a day that does not exist'],
    ['1', 'a bare number'],
    ['', 'empty text'],
  ] as const)('refuses %j (%s) and stores nothing of the call', async ([text], ctx) => {
    const table = `times_bad.raw_${ctx.task.id.replace(/\W/g, '_')}`;
    const source = new PgRawDocumentSource({ pg: newYork, table });
    (await source.prepare())._unsafeUnwrap();
    const result = await source.append([
      { digest: 'fine', retrievedAt: '2024-01-01T00:00:00Z', content: '{}' },
      { digest: 'odd', retrievedAt: text, content: '{}' },
    ]);
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('document odd: retrievedAt');
    expect(error.message).toContain('ISO-8601');
    expect(await storedTimes(table)).toEqual({});
  });

  it('refuses an invalid Date instead of throwing', async () => {
    const source = new PgRawDocumentSource({ pg: newYork, table: 'times_nan.raw' });
    (await source.prepare())._unsafeUnwrap();
    const result = await source.append([{ digest: 'nan', retrievedAt: new Date(Number.NaN), content: '{}' }]);
    expect(result._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(await storedTimes('times_nan.raw')).toEqual({});
  });
});
