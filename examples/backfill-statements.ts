// Replaces the "Excititor Statement Backfill Runbook", step "CLI command":
//   stellaops excititor backfill-statements [--retrieved-since <ISO8601>] [--force] \
//     [--batch-size <int>] [--max-documents <int>]
// and the release plan's step 3, "Run 21-102 backfill with `--batch-size=500
// --stop-on-error`; capture report hash".
// Same flags (plus --stop-on-error and --run-id; --retrieved-since is ISO-8601,
// UTC unless it has an offset); prints the runbook's summary line and the report hash. Exits 0 only when no document failed: 4 when some did
// (listed on stderr), 130 when interrupted (SIGINT, SIGTERM), 1 when the run stopped otherwise, 2 on a bad flag. Reads raw documents from vex.raw_documents and writes
// vex.statements in the PostgreSQL at --pg, PGURI or BACKFILL_KIT_PG_URL.
// A run interrupted for any reason (even SIGKILL) resumes when started again
// with the same --run-id.
//
//   npx tsx examples/backfill-statements.ts --pg postgres://… --batch-size=500 --stop-on-error --run-id lnm-21-102
//   npx tsx examples/backfill-statements.ts --retrieved-since "$(date -u -d '48 hours ago' +%Y-%m-%dT%H:%M:%SZ)"
//   npx tsx examples/backfill-statements.ts --force --max-documents 2000
import { parseArgs } from 'node:util';
import pg from 'pg';
import { readInstant } from '../src/_internals/instant.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../src/statements/index.js';
import { reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('backfill-statements');

const USAGE =
  'usage: backfill-statements [--pg URL] [--retrieved-since ISO8601] [--force] [--batch-size N] [--max-documents N] [--stop-on-error] [--run-id ID]';

function usage(message: string): never {
  process.stderr.write(`backfill-statements: ${message}\n${USAGE}\n`);
  process.exit(2);
}

/** A count as backfill-kit reads one: the digits 0-9 only (`Number` would read `0x10` as 16 and `1e1` as 10). */
function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    usage(`--${name} must be a positive integer written with the digits 0-9, got ${JSON.stringify(value)}`);
  return n;
}

function parse() {
  return parseArgs({
    options: {
      pg: { type: 'string' },
      'retrieved-since': { type: 'string' },
      force: { type: 'boolean', default: false },
      'batch-size': { type: 'string' },
      'max-documents': { type: 'string' },
      'stop-on-error': { type: 'boolean', default: false },
      'run-id': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
}
let args: ReturnType<typeof parse>;
try {
  args = parse();
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const url = args.pg ?? process.env.PGURI ?? process.env.BACKFILL_KIT_PG_URL;
if (!url) usage('no database: pass --pg or set PGURI');
/**
 * `--retrieved-since` as `backfill-kit statements backfill` reads it: ISO-8601, UTC unless it has an offset (as
 * the runbook reads timestamps), whatever the host's time zone, psql's `2025-10-01 00:00:00` too. `Date` would read
 * that in the host's time zone, and `12` as 2001-12-01.
 */
function instant(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const read = readInstant(text);
  if (read.isErr() || read.value.finerThanMs)
    usage(
      `--retrieved-since must be an ISO-8601 timestamp such as 2024-01-01T00:00:00Z (UTC unless it has an offset), not ${JSON.stringify(text)}`,
    );
  return new Date(read.value.epochMs);
}
const retrievedSince = instant(args['retrieved-since']);
const batchSize = positive('batch-size', args['batch-size']);
const maxDocuments = positive('max-documents', args['max-documents']);

const pool = new pg.Pool({ connectionString: url, max: 4 });
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

const backfiller = new StatementBackfiller({
  source: new PgRawDocumentSource({ pg: pool }),
  sink: new PgStatementSink({ pg: pool }),
  normalizers: defaultVexNormalizers,
  logger: {
    info: () => undefined,
    warn: (message, fields) =>
      process.stderr.write(`warn: ${message} ${fields?.['digest'] ?? ''} ${fields?.['code'] ?? ''} ${fields?.['message'] ?? ''}\n`),
    error: (message, fields) => process.stderr.write(`error: ${message} ${fields?.['digest'] ?? ''}\n`),
  },
});
const result = await backfiller.run({
  force: args.force,
  stopOnError: args['stop-on-error'],
  signal: controller.signal,
  ...(retrievedSince === undefined ? {} : { retrievedSince }),
  ...(batchSize === undefined ? {} : { batchSize }),
  ...(maxDocuments === undefined ? {} : { maxDocuments }),
  ...(args['run-id'] === undefined ? {} : { runId: args['run-id'] }),
  onProgress: (p) => {
    const eta = p.etaSeconds === undefined ? '' : `, ETA ${Math.round(p.etaSeconds)} s`;
    process.stderr.write(`batch ${p.batches}: evaluated ${p.evaluated} (${Math.round(p.documentsPerSecond)} docs/s${eta})\n`);
  },
});
await pool.end();

if (result.isOk()) {
  const s = result.value;
  process.stdout.write(`${s.text}\n`);
  process.stdout.write(`Run id: ${s.runId}\nReport SHA-256: ${s.reportSha256}\n`);
  if (s.failures > 0) {
    // As `backfill-kit statements backfill`: a run that failed documents is no success a script may chain on.
    for (const f of s.failed.slice(0, 20)) process.stderr.write(`  failed ${f.digest}: ${f.code} ${f.message}\n`);
    if (s.failed.length > 20)
      process.stderr.write(`  … ${s.failed.length - 20} more (vex.statement_backfill_failures, run id ${s.runId})\n`);
    process.stderr.write(
      `backfill-statements: ${s.failures} documents failed and have no statements; the run recorded them in vex.statement_backfill_failures under run id ${s.runId}.\n`,
    );
    process.exitCode = 4;
  }
} else {
  const { partial } = result.error;
  process.stderr.write(`backfill-statements: ${result.error.code}: ${result.error.message}\n${result.error.fix}\n`);
  if (partial)
    process.stderr.write(`so far: ${partial.text.replace('Backfill completed: ', '')} (resume with --run-id ${partial.runId})\n`);
  // As `backfill-kit statements backfill`: an interrupted run is told from a failed one by its status.
  process.exitCode = result.error.code === 'ABORTED' ? 130 : 1;
}
