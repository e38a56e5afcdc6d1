/**
 * `--retrieved-since` as an operator copies it from psql or a log: UTC
 * unless it has an offset, whatever the host's TZ, and never cut to the
 * millisecond (which would let in documents retrieved before it).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { cli, jsonOf } from './cli-harness.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  (await source.prepare())._unsafeUnwrap();
  const docs = [...generateVexDocuments({ seed: 3, count: 4, brokenRatio: 0 })];
  const at = ['2023-12-31T23:00:00.000000Z', '2024-01-01T00:00:00.000100Z', '2024-01-01T00:00:00.000500Z', '2024-01-01T03:00:00.000000Z'];
  (await source.append(docs.map((d, i) => ({ digest: d.digest, retrievedAt: at[i]!, content: d.content }))))._unsafeUnwrap();
  await source.close();
});
afterAll(async () => {
  await db?.drop();
});

/** Plans run `runId` from `since` on a host in New York; returns the JSON document. */
async function planSince(runId: string, since: string) {
  const run = await cli(['statements', 'plan', '--json', '--run-id', runId, '--retrieved-since', since], {
    env: { PGURI: db.url, TZ: 'America/New_York' },
  });
  return { code: run.code, stderr: run.stderr, doc: jsonOf(run) };
}

it('a timestamp without an offset is UTC, written with a T or a space (as psql prints it), whatever TZ the host has', async () => {
  for (const [runId, since] of [
    ['space', '2024-01-01 00:00:00'],
    ['t', '2024-01-01T00:00'],
    ['date', '2024-01-01'],
    ['offset', '2023-12-31 19:00:00-05'],
    ['micro-zeros', '2024-01-01T00:00:00.000000+00:00'],
  ]) {
    const { code, stderr, doc } = await planSince(runId!, since!);
    expect(code, stderr).toBe(0);
    expect(doc.report.options.retrievedSince, since).toBe('2024-01-01T00:00:00.000Z');
    expect(doc.report.documents, since).toBe(3);
  }
}, 60_000);

it('a fraction below the millisecond, a date that does not exist, an offset no clock has, or a year PostgreSQL cannot store, is refused (exit 2) before anything is planned', async () => {
  // Each is refused on its own (no run is planned), so the CLIs run at once.
  const refused = (id: string, since: string) => planSince(id, since).then((r) => ({ ...r, since }));
  const [micro, backfill, day, words, offsets, years] = await Promise.all([
    planSince('micro', '2024-01-01T00:00:00.000500Z'),
    cli(['statements', 'backfill', '--retrieved-since', '2024-01-01 00:00:00.0005'], { env: { PGURI: db.url } }),
    planSince('feb-30', '2024-02-30 00:00:00'),
    planSince('words', 'yesterday'),
    Promise.all([
      refused('minutes-99', '2024-01-01T00:00:00+00:99'),
      refused('hours-99', '2024-01-01T00:00:00+99:00'),
      refused('hours-24', '2024-01-01T00:00:00-24'),
    ]),
    // PostgreSQL has no year 0000 (its ISO form failed the plan's query); 0001-01-01 at +01:00 is in year 0000 UTC.
    Promise.all([refused('year-0', '0000-06-01T00:00:00Z'), refused('year-0-utc', '0001-01-01T00:30:00+01:00')]),
  ]);
  expect(micro.code).toBe(2);
  expect(micro.stderr).toContain('--retrieved-since must be given to the millisecond at most');
  expect(backfill.code).toBe(2);
  expect(day.code).toBe(2);
  expect(day.stderr).toContain('--retrieved-since is not a valid date and time');
  expect(words.stderr).toContain('--retrieved-since must be an ISO-8601 timestamp');
  for (const offset of offsets) {
    expect(offset.code, offset.since).toBe(2);
    expect(offset.stderr).toContain('--retrieved-since has an offset outside -15:59 to +15:59');
  }
  for (const year of years) {
    expect(year.code, year.since).toBe(2);
    expect(year.stderr).toContain('--retrieved-since must be in the years 0001 to 9999 (UTC)');
  }
  // Nothing was planned: none of the refused runs is in the runs table.
  expect(
    await db.query(
      "SELECT to_regclass('vex.statement_backfill_runs') IS NULL OR NOT EXISTS (SELECT 1 FROM vex.statement_backfill_runs WHERE run_id <> ALL ($1)) AS none",
      [['space', 't', 'date', 'offset', 'micro-zeros']],
    ),
  ).toEqual([{ none: true }]);
}, 60_000);
