/**
 * A raw table named in a schema that does not exist (a mistyped
 * `--raw-table`) is TABLE_NOT_FOUND naming the table, whether the run is
 * planned or single-process, not a bare DB_ERROR about the schema.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 1, count: 5, brokenRatio: 0 }, (created) => (db = created));

it.each([
  ['statements backfill', ['statements', 'backfill']],
  ['statements plan', ['statements', 'plan', '--run-id', 'p']],
])(
  '%s with a raw table in a missing schema: TABLE_NOT_FOUND naming the schema and the table',
  async (_, command) => {
    const run = await cli([...command, '--json', '--raw-table', 'vexx.raw_documents'], { env: { PGURI: db.url } });
    const doc = jsonOf(run);
    expect(doc.error?.code, run.stderr).toBe('TABLE_NOT_FOUND');
    // PostgreSQL 15 names the schema (3F000, so the table is added), 18 the relation (42P01): either way the table is named.
    expect(doc.error?.message).toMatch(
      /^PostgreSQL: (schema "vexx" does not exist \(table "vexx"\."raw_documents"\)|relation "vexx\.raw_documents" does not exist)$/,
    );
  },
  60_000,
);
