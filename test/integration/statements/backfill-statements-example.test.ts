import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { expectedCounters, psql, seedDocuments } from './helpers.js';
import type { GeneratedVexDocument } from '../../../src/testing/vex-documents.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs the example, on a host in time zone `tz` (the runner's own when not given). */
function example(args: string[], tz?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/backfill-statements.ts', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, PGURI: '', ...(tz === undefined ? {} : { TZ: tz }) },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The number of documents a run's summary line says it evaluated. */
function evaluated(run: { stdout: string; stderr: string }): number {
  const m = /^Backfill completed: evaluated (\d+),/m.exec(run.stdout);
  expect(m, `${run.stdout}\n${run.stderr}`).not.toBeNull();
  return Number(m?.[1]);
}

let db: TestDatabase;
let docs: GeneratedVexDocument[];
beforeAll(async () => {
  db = await createTestDatabase();
  docs = await seedDocuments(db.url, { seed: 450, count: 450, brokenRatio: 0.03 });
});
afterAll(async () => {
  await db.drop();
});

describe('examples/backfill-statements.ts', () => {
  it('runs the release runbook invocation, prints the statements runbook summary and the report hash, then skips everything on a rerun', () => {
    const want = expectedCounters(docs);
    const first = example(['--pg', db.url, '--batch-size=500', '--run-id', 'lnm-21-102']);
    // Documents that failed make it exit 4, as the CLI does (the corpus has broken ones).
    expect(want.failures).toBeGreaterThan(0);
    expect(first.status, first.stderr).toBe(4);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      `Backfill completed: evaluated 450, backfilled ${want.backfilled}, claims written ${want.claimsWritten}, skipped 0, failures ${want.failures}.`,
    );
    expect(lines[2]).toMatch(/^Report SHA-256: [0-9a-f]{64}$/);
    expect(Number(psql(db.url, 'SELECT count(*) FROM vex.statements'))).toBe(want.claimsWritten);

    const again = example(['--pg', db.url, '--max-documents', '100']);
    const failedAgain = /^Backfill completed: evaluated 100, backfilled 0, claims written 0, skipped \d+, failures (\d+)\.\n/.exec(
      again.stdout,
    );
    expect(failedAgain, again.stdout).not.toBeNull();
    // A failed document is evaluated again on a rerun, and fails again.
    expect(again.status, again.stderr).toBe(Number(failedAgain?.[1]) > 0 ? 4 : 0);
  });

  it('exits 1 with the partial summary under --stop-on-error, and 2 on a bad flag', () => {
    const stopped = example(['--pg', db.url, '--force', '--stop-on-error', '--run-id', 'strict']);
    expect(stopped.status).toBe(1);
    expect(stopped.stderr).toMatch(/stopOnError/);
    expect(stopped.stderr).toMatch(/resume with --run-id strict/);
    expect(example(['--pg', db.url, '--batch-size', 'ten']).status).toBe(2);
    expect(example(['--pg', db.url, '--retrieved-since', 'yesterday']).status).toBe(2);
  });

  // The corpus starts at 2025-10-01T00:00:00Z, three documents a second: a shift of hours changes the count.
  it("reads --retrieved-since without an offset (psql's form) as UTC on a host in any time zone", () => {
    const utc = evaluated(example(['--pg', db.url, '--retrieved-since', '2025-10-01T00:00:05Z'], 'UTC'));
    expect(utc).toBe(450 - 15);
    for (const tz of ['Asia/Tokyo', 'America/New_York']) {
      expect(evaluated(example(['--pg', db.url, '--retrieved-since', '2025-10-01 00:00:05'], tz)), tz).toBe(utc);
    }
  });

  it('refuses a --retrieved-since that is no ISO-8601 timestamp (exit 2), not read as a date of its own', () => {
    for (const text of ['12', '10/01/2025', 'Oct 1 2025']) {
      const r = example(['--pg', db.url, '--retrieved-since', text], 'UTC');
      expect(r.status, `${text}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--retrieved-since/);
    }
  });

  it('refuses a count written other than with the digits 0-9 (exit 2), as backfill-kit does: 0x10 is not read as 16', () => {
    for (const [flag, value] of [
      ['--max-documents', '0x10'],
      ['--max-documents', '1e1'],
      ['--batch-size', '0b101'],
      ['--batch-size', ' 5'],
    ] as const) {
      const r = example(['--pg', db.url, flag, value]);
      expect(r.status, `${flag} ${value}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(flag);
    }
  });
});
