/**
 * Shared setup for tests of one hostile raw document among good ones: the
 * backfill command must record it as a failure, store none of its claims
 * and backfill the others.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { cli, type CliRun } from '../cli/cli-harness.js';
import { psql, seedDocuments } from './helpers.js';

/** Good documents seeded beside the hostile one. */
const GOOD = 4;

/**
 * A test database for the file, holding {@link GOOD} generated documents
 * and the raw document `digest` of `content` (stored as is, through psql).
 */
export function useDatabaseWithDocument(seed: number, digest: string, content: () => string): () => TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    await seedDocuments(db.url, { seed, count: GOOD, brokenRatio: 0 });
    psql(db.url, `INSERT INTO vex.raw_documents VALUES ('${digest}', '2025-10-01T00:00:01.5Z', '${content().replaceAll("'", "''")}')`);
  });
  afterAll(async () => {
    await db?.drop();
  });
  return () => db as TestDatabase;
}

/**
 * Runs `statements backfill` as `runId` and checks, with psql as the
 * oracle, that it exited 4 with the good documents backfilled and `digest`
 * recorded as failed with `DOCUMENT_INVALID` and `message`, none of its
 * claims stored, and the run completed.
 */
export async function expectRecordedFailure(
  db: TestDatabase,
  runId: string,
  digest: string,
  message: string,
  options: Parameters<typeof cli>[1] = {},
): Promise<CliRun> {
  const run = await cli(['statements', 'backfill', '--pg', db.url, '--run-id', runId], options);
  expect(run.signal, run.stderr.slice(0, 2000)).toBeNull();
  expect(run.code, run.stderr.slice(0, 2000)).toBe(4);
  expect(run.stdout).toMatch(new RegExp(`evaluated ${GOOD + 1}, backfilled ${GOOD}, .* failures 1\\.`));
  expect(
    psql(db.url, `SELECT digest || ' ' || code || ' ' || message FROM vex.statement_backfill_failures WHERE run_id = '${runId}'`),
  ).toBe(`${digest} DOCUMENT_INVALID ${message}`);
  expect(psql(db.url, `SELECT count(*) FROM vex.statements WHERE document_digest = '${digest}'`)).toBe('0');
  expect(psql(db.url, `SELECT completed FROM vex.statement_backfill_checkpoints WHERE run_id = '${runId}'`)).toBe('t');
  return run;
}

/**
 * A CSAF VEX document whose products A (`pkg:npm/a@1.0.0`) and B
 * (`pkg:npm/b@1.0.0`) are both not affected by `cve`, with `groups` as its
 * `product_groups` and `vulnerability` the rest of its one vulnerability
 * item (flags, threats).
 */
export function csafOfAandB(cve: string, groups: readonly unknown[], vulnerability: Record<string, unknown>): unknown {
  return {
    document: { csaf_version: '2.0', category: 'csaf_vex', tracking: { current_release_date: '2026-01-01T00:00:00Z' } },
    product_tree: {
      full_product_names: [
        { name: 'a', product_id: 'A', product_identification_helper: { purl: 'pkg:npm/a@1.0.0' } },
        { name: 'b', product_id: 'B', product_identification_helper: { purl: 'pkg:npm/b@1.0.0' } },
      ],
      product_groups: groups,
    },
    vulnerabilities: [{ cve, product_status: { known_not_affected: ['A', 'B'] }, ...vulnerability }],
  };
}
