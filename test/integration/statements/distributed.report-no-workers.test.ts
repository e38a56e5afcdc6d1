/**
 * `statements report` of a planned run that no worker is working (none was
 * started yet, or every one was killed): waiting for "its workers" to be
 * done would wait for ever, so the report says to start one.
 */
import { expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli } from '../cli/cli-harness.js';
import { useSeededDatabase } from './helpers.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';

let db: TestDatabase;
useSeededDatabase({ seed: 41, count: 120, brokenRatio: 0 }, (created) => (db = created));

it('a running run with jobs queued and no worker alive: the report says to start a worker', async () => {
  (await planBackfill({ connectionString: db.url }, { runId: 'idle', rangeSize: 50 }))._unsafeUnwrap();
  const report = await cli(['statements', 'report', '--pg', db.url, '--run-id', 'idle']);
  expect(report.code).toBe(7);
  expect(report.stderr).toContain(
    'error RUN_IN_PROGRESS: run idle is still running (0/120 documents, ranges 0/3, 0.0 docs/s, ETA unknown, workers alive 0); but no worker is alive to work it: start one (statements worker, or statements backfill --workers N --run-id idle with the options it was planned with).',
  );
}, 60_000);
