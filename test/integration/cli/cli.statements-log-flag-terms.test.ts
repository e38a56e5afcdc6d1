/**
 * The statements commands pass the CLI's logger to the library, whose log
 * lines name its options: a stop was logged "(stopOnError)" and an idle
 * worker was told of "--jobs-schema (jobsSchema)". The commands now give
 * the library a logger that says them as the flags, with the same wording
 * as their errors (`withFlagWords`). A line's fields are JSON whose
 * keys stay the library's.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { useSeededDatabase } from '../statements/helpers.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
useSeededDatabase({ seed: 12, count: 30, brokenRatio: 0.3 }, (created) => (db = created));

describe('statements log lines in flag terms', () => {
  it.for([
    {
      name: 'a single-process run',
      args: ['--run-id', 'single'],
      line: 'error: statement backfill: stopping at the first failure (--stop-on-error)',
    },
    {
      name: 'a planned run',
      args: ['--run-id', 'planned', '--workers', '1'],
      line: 'error: statement backfill: a range stopped at a failing document (--stop-on-error)',
    },
  ])('$name stopped by --stop-on-error logs the stop with the flag', { timeout: 120_000 }, async ({ args, line }) => {
    const r = await cli(['statements', 'backfill', '--stop-on-error', ...args], { env: { PGURI: db.url } });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(line);
    expect(r.stderr).not.toContain('stopOnError');
  });

  it('a worker that finds no job anywhere names --jobs-schema, not its option', { timeout: 120_000 }, async () => {
    const r = await cli(['statements', 'worker', '--until-done', '--jobs-schema', 'nojobs'], { env: { PGURI: db.url } });
    expect(r.stderr).toContain('if the runs were planned with --jobs-schema or --runs-table, give every worker the same flags.');
    // The line's message, before its fields (JSON, whose keys stay the library's).
    const message = r.stderr
      .split('\n')
      .find((l) => l.includes('no job of any planned run'))
      ?.split(' {"')[0];
    expect(message).toMatch(/--jobs-schema/);
    expect(message).not.toContain('jobsSchema');
  });
});
