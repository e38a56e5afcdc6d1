/**
 * A single-process `statements backfill --run-id X` rerun with other
 * --retrieved-since, --force or --max-documents than the run was started
 * with is refused, but the refusal spoke the library's terms (`retrievedSince`,
 * `runId`, the options as JSON): the operator had to translate it into flags.
 * It now names the flags the run was started with and the command that
 * resumes it, with the table flags given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { seedDocuments } from '../statements/helpers.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 5, count: 40, brokenRatio: 0 });
});
afterAll(async () => {
  await db?.drop();
});

const since = '2000-01-01T00:00:00.000Z';
const tables = ['--documents-table', 'st.docs'];

describe('statements backfill resumed with other flags', () => {
  it.for([
    { name: 'no --retrieved-since', runId: 'r1', shown: 'r1', other: ['--max-documents', '5', '--force'] },
    { name: 'another --max-documents', runId: 'r2', shown: 'r2', other: ['--retrieved-since', since, '--max-documents', '6', '--force'] },
    { name: 'no --force', runId: "r3's", shown: `'r3'\\''s'`, other: ['--retrieved-since', since, '--max-documents', '5'] },
  ])('$name: names the flags it was started with and the command that resumes it', { timeout: 60_000 }, async ({ runId, shown, other }) => {
    const env = { PGURI: db.url };
    const started = await cli(
      ['statements', 'backfill', '--run-id', runId, '--retrieved-since', since, '--force', '--max-documents', '5', ...tables],
      { env },
    );
    expect(started.code, started.stderr).toBe(0);
    const again = await cli(['statements', 'backfill', '--run-id', runId, ...other, ...tables], { env });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(
      `run ${runId} was started with --retrieved-since ${since}, --force, --max-documents 5; resume it with the same flags: statements backfill --run-id ${shown} --retrieved-since ${since} --force --max-documents 5 --documents-table st.docs, or use a new --run-id.`,
    );
    expect(again.stderr).not.toMatch(/retrievedSince|maxDocuments|runId/);
  });

  it('names the absent flags of a run started without them', async () => {
    const env = { PGURI: db.url };
    const started = await cli(['statements', 'backfill', '--run-id', 'bare', '--max-documents', '3'], { env });
    expect(started.code, started.stderr).toBe(0);
    const again = await cli(['statements', 'backfill', '--run-id', 'bare', '--force', '--max-documents', '3'], { env });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(
      'run bare was started with no --retrieved-since, no --force, --max-documents 3; resume it with the same flags: statements backfill --run-id bare --max-documents 3, or use a new --run-id.',
    );
  }, 60_000);
});
