/**
 * A worker told to wait for one run (`--until-done --run-id`) that is never
 * planned, say a typo: after ten seconds it says what it waits for and
 * what to check, instead of waiting without a word.
 */
import { describe, expect, it, vi } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { runBackfillWorker } from '../../../src/statements/distributed-worker.js';
import { useSeededDatabase } from './helpers.js';

let db: TestDatabase;
useSeededDatabase({ seed: 5, count: 20, brokenRatio: 0 }, (created) => (db = created));

describe('a worker waiting for a run that is not planned', () => {
  it('says so after ten seconds, naming the run and the runs table', async () => {
    const warnings: string[] = [];
    const logger = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined };
    const config = { connectionString: db.url, logger };
    // Another run is planned, so the queue exists and has jobs; just not this one's.
    (await planBackfill(config, { runId: 'nightly' }))._unsafeUnwrap();
    const stop = new AbortController();
    const worker = runBackfillWorker(config, { runId: 'nightyl', untilDone: true, signal: stop.signal });
    const started = Date.now();
    await vi.waitFor(() => expect(warnings.join('\n')).toMatch(/run "nightyl" was never planned/), { timeout: 20_000, interval: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    stop.abort();
    await worker;
    expect(warnings.join('\n')).toMatch(
      /still waiting after 1\d s: run "nightyl" was never planned \(not in "vex"\."statement_backfill_runs"\); plan it with `statements plan --run-id` first\. Check --run-id and the table flags/,
    );
  }, 60_000);
});
