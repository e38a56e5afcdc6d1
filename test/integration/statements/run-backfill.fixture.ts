/**
 * Child process for the kill test: runs one statement backfill and reports
 * progress on stdout, so the test can SIGKILL it part-way.
 *
 * Usage: node --import tsx run-backfill.fixture.ts <pg-url> <run-id> <batch-size> <throttle-ms> [hold]
 * Prints `PROGRESS <evaluated>` after each committed batch and
 * `SUMMARY <json>` at the end. With `hold`, it waits after its first batch
 * (holding the run lock) until a line arrives on stdin.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';

const [url, runId, batchSize, throttleMs, hold] = process.argv.slice(2);
let held = hold !== 'hold';
const pool = new pg.Pool({ connectionString: url, max: 3 });
const backfiller = new StatementBackfiller({
  source: new PgRawDocumentSource({ pg: pool }),
  sink: new PgStatementSink({ pg: pool }),
  normalizers: defaultVexNormalizers,
});
const result = await backfiller.run({
  runId: runId ?? 'kill',
  batchSize: Number(batchSize),
  onProgress: (p) => process.stdout.write(`PROGRESS ${p.evaluated}\n`),
  throttle: async () => {
    if (!held) {
      held = true;
      // A line, or the test's end closing the pipe, releases it.
      await Promise.race([once(process.stdin, 'data'), once(process.stdin, 'end')]);
    }
    await sleep(Number(throttleMs));
  },
});
await pool.end();
if (result.isErr()) {
  process.stderr.write(`${result.error.code}: ${result.error.message}\n`);
  process.exitCode = 1;
} else {
  const { text, reportSha256, resumed, evaluated } = result.value;
  process.stdout.write(`SUMMARY ${JSON.stringify({ text, reportSha256, resumed, evaluated })}\n`);
}
