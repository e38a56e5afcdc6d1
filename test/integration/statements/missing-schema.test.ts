/**
 * A raw table named in a schema that does not exist (a mistyped
 * `--raw-table`) is TABLE_NOT_FOUND naming the table, whether the run is
 * planned or single-process, not a bare DB_ERROR about the schema.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { seedDocuments } from './helpers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 1, count: 5, brokenRatio: 0 });
});
afterAll(async () => {
  await db?.drop();
});

it.each([
  ['statements backfill', ['statements', 'backfill']],
  ['statements plan', ['statements', 'plan', '--run-id', 'p']],
])(
  '%s with a raw table in a missing schema: TABLE_NOT_FOUND naming the schema and the table',
  async (_, command) => {
    const run = await cli([...command, '--json', '--raw-table', 'vexx.raw_documents'], { env: { PGURI: db.url } });
    const doc = jsonOf(run);
    expect(doc.error?.code, run.stderr).toBe('TABLE_NOT_FOUND');
    expect(doc.error?.message).toBe('PostgreSQL: schema "vexx" does not exist (table "vexx"."raw_documents")');
  },
  60_000,
);
