// Replaces the dataset runbook STORE-AOC-19-005-DEV, "Backfill steps (CI-ready)":
//   scripts/concelier/backfill-store-aoc-19-005.sh /path/to/linksets-stage-backfill.tar.zst
// and its manual fallback steps 1-3 (extract, create/truncate + \copy, verify
// counts vs manifest). The same environment: PGURI (or CONCELIER_PG_URI),
// PGSCHEMA (default lnm_raw), DRY_RUN=1 for a validation-only run. Optional:
// STRATEGY=swap (readers blocked only for the final swap), TARBALL_SHA256
// (the digest recorded in the runbook), ON_INVALID=reject (bad lines go to
// <tarball>.rejects.ndjson instead of failing the import).
//
// Prints the tarball's SHA-256 and size, the counts per table and the
// manifest, and exits non-zero on any mismatch; a failed import commits
// nothing, so the tables keep their previous contents.
//
//   PGURI=postgres://localhost/concelier npx tsx examples/backfill-store-aoc-19-005.ts out/linksets/linksets-stage-backfill.tar.zst
//   DRY_RUN=1 PGURI=… npx tsx examples/backfill-store-aoc-19-005.ts out/linksets/linksets-stage-backfill.tar.zst
import { StagingImporter, type ImportReport } from '../src/staging/index.js';
import { answerHelp, reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('backfill-store-aoc-19-005');

const TABLES = { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'advisory_chunks_raw' } as const;

function fail(message: string, code = 1): void {
  process.stderr.write(`backfill-store-aoc-19-005: ${message}\n`);
  process.exitCode = code;
}

function printReport(report: ImportReport): void {
  const out = process.stdout;
  out.write(`tarball: ${report.path}\n`);
  out.write(`sha256:  ${report.sha256 ?? '(not read to the end)'}\n`);
  out.write(`bytes:   ${report.bytes ?? '?'}\n`);
  out.write(`mode:    ${report.dryRun ? 'DRY RUN (nothing written)' : `strategy=${report.strategy}, committed=${report.committed}`}\n`);
  for (const t of report.tables) {
    // A table whose manifest count was never read (the import failed first) was not compared: no MISMATCH to chase.
    const verdict = t.expected === null ? 'NOT CHECKED' : t.ok ? 'OK' : 'MISMATCH';
    const kept = report.committed || report.dryRun ? '' : ', not committed';
    out.write(
      `${t.table}=${t.loaded} (manifest ${t.expected ?? '?'}${t.rejected > 0 ? `, rejected ${t.rejected}` : ''}${kept}) ${verdict}\n`,
    );
  }
  if (report.rejectPath !== null && report.rejected > 0) out.write(`rejects: ${report.rejectPath}\n`);
  if (report.lock !== null) out.write(`lock:    ${report.lock.lockMode} held ${report.lock.lockHeldMs.toFixed(1)} ms\n`);
  out.write(`rate:    ${Math.round(report.rowsPerSecond)} rows/s in ${(report.durationMs / 1000).toFixed(2)} s\n`);
  out.write(`manifest:\n${JSON.stringify(report.manifest, null, 2)}\n`);
}

/** The environment variable `name`, one of `choices` (the first when unset); anything else fails with exit 2 and gives undefined. */
function choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
  const value = process.env[name] ?? '';
  if (value === '') return choices[0];
  if ((choices as readonly string[]).includes(value)) return value as T;
  fail(`${name} must be one of ${choices.join(', ')}, not ${JSON.stringify(value)}`, 2);
  return undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const usage =
    'usage: backfill-store-aoc-19-005 /path/to/linksets-stage-backfill.tar.zst (settings in the environment: PGURI, DRY_RUN=1, STRATEGY, ON_INVALID, TARBALL_SHA256, PGSCHEMA)';
  answerHelp(args, usage);
  const [path, ...extra] = args;
  const url = process.env.PGURI || process.env.CONCELIER_PG_URI;
  // Settings are environment variables: a flag (`--dry-run`) is refused, since ignored it would import for real.
  if (path === undefined || path.startsWith('-') || extra.length > 0)
    return fail(`${usage}; got ${JSON.stringify(args)} (write a path that starts with - as ./-…)`, 2);
  if (url === undefined || url === '') return fail('set PGURI (or CONCELIER_PG_URI) to the target PostgreSQL', 2);
  // A mistyped setting stops here rather than falling back to a default: DRY_RUN=ture must not import for real.
  const dryRunText = (process.env.DRY_RUN ?? '').trim().toLowerCase();
  if (!['', '0', '1', 'false', 'true', 'no', 'yes', 'off', 'on'].includes(dryRunText))
    return fail(`DRY_RUN must be 1/true/yes/on or 0/false/no/off, not ${JSON.stringify(process.env.DRY_RUN)}`, 2);
  const strategy = choice('STRATEGY', ['truncate', 'swap'] as const);
  const onInvalid = choice('ON_INVALID', ['fail', 'reject'] as const);
  if (strategy === undefined || onInvalid === undefined) return;
  const importer = new StagingImporter({ pg: url, schema: process.env.PGSCHEMA || 'lnm_raw', tables: TABLES });
  try {
    const result = await importer.import(path, {
      dryRun: ['1', 'true', 'yes', 'on'].includes(dryRunText),
      strategy,
      onInvalid,
      ...(process.env.TARBALL_SHA256 ? { expectedSha256: process.env.TARBALL_SHA256 } : {}),
      onProgress: (p) => {
        if (p.phase !== 'load') process.stderr.write(`… ${p.phase}: ${p.rows} rows\n`);
      },
    });
    if (result.isErr()) {
      const partial = result.error.partial;
      if (partial !== undefined) printReport(partial);
      return fail(`${result.error.code}: ${result.error.message}\n  fix: ${result.error.fix}`);
    }
    printReport(result.value);
    if (result.value.dryRun) return;
    // Verify step 3 again from outside the import, as the runbook does.
    const counts = await importer.counts();
    if (counts.isErr()) return fail(`${counts.error.code}: ${counts.error.message}\n  fix: ${counts.error.fix}`);
    for (const t of result.value.tables) {
      const now = counts.value[t.table];
      process.stdout.write(`${t.table}=${now}\n`);
      if (now !== t.loaded || t.expected === null || now + t.rejected !== t.expected)
        fail(`${t.table} holds ${now} rows; the manifest says ${t.expected}`);
    }
  } finally {
    await importer.close();
  }
}

await main();
