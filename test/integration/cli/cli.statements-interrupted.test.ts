/**
 * Ctrl-C or a supervisor's SIGTERM during `statements backfill`: the run
 * stops between batches with exit 130, and says what to rerun. It said
 * "The run stopped" and "once the cause is fixed, resume the run", as for
 * a failure, though an interrupt has no cause to fix. It now says the run
 * was interrupted, and the command it prints resumes it.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { useSeededDatabase } from '../statements/helpers.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
useSeededDatabase({ seed: 6, count: 5000, brokenRatio: 0 }, (created) => (db = created));

describe('statements backfill interrupted', () => {
  it.for(['SIGINT', 'SIGTERM'] as const)(
    '%s: exit 130, says it was interrupted and how to resume; that resumes it',
    { timeout: 180_000 },
    async (signal) => {
      const runId = `interrupted-${signal}`;
      const env = { PGURI: db.url, BACKFILL_KIT_PROGRESS_INTERVAL: '0.001' };
      let pid = 0;
      let seen = '';
      let signalled = false;
      const r = await cli(['statements', 'backfill', '--batch-size', '50', '--run-id', runId], {
        env,
        onSpawn: (p) => {
          pid = p;
        },
        onStderr: (chunk) => {
          seen += chunk;
          // Once batches are committing, well before the last one.
          if (!signalled && /backfill: [1-9][\d,]*\/5,000 docs/.test(seen)) {
            signalled = true;
            process.kill(pid, signal);
          }
        },
      });
      expect(signalled, r.stderr).toBe(true);
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(/^error ABORTED: /m);
      expect(r.stdout).toContain('The run was interrupted; committed so far:');
      const command = /Every committed batch is kept; resume the run: (.+)$/m.exec(r.stdout)?.[1];
      expect(command, r.stdout).toBe(`statements backfill --run-id ${runId}`);
      const resumed = await cli(command!.split(' '), { env: { PGURI: db.url } });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain('Backfill completed: evaluated 5000');
    },
  );
});
