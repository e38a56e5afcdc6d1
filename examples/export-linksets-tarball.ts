// Replaces the dataset runbook STORE-AOC-19-005-DEV, "How to produce the
// tarball (export from Postgres)":
//   scripts/concelier/export-linksets-tarball.sh out/linksets/linksets-stage-backfill.tar.zst
// The same environment: PGURI (or CONCELIER_PG_URI), PGSCHEMA (default
// lnm_raw), LINKSETS_TABLE (default linksets_raw), CHUNKS_TABLE (default
// advisory_chunks_raw). Writes linksets.ndjson, advisory_chunks.ndjson and
// manifest.json into the tarball (rows ordered by id COLLATE "C", fixed
// mtime and compression level, so the same tables give the same bytes),
// prints the SHA-256 as `sha256sum` does, and writes it to <tarball>.sha256.
//
//   PGURI=postgres://localhost/concelier npx tsx examples/export-linksets-tarball.ts out/linksets/linksets-stage-backfill.tar.zst
import { exportDataset } from '../src/staging/index.js';
import { answerHelp, reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('export-linksets-tarball');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const usage =
    'usage: export-linksets-tarball out/linksets/linksets-stage-backfill.tar.zst (settings in the environment: PGURI, PGSCHEMA, LINKSETS_TABLE, CHUNKS_TABLE)';
  answerHelp(args, usage);
  const [out, ...extra] = args;
  const url = process.env.PGURI || process.env.CONCELIER_PG_URI;
  // Settings are environment variables: a flag is refused rather than ignored, or taken for the path (`./--help`).
  if (out === undefined || out.startsWith('-') || extra.length > 0) {
    process.stderr.write(`${usage}; got ${JSON.stringify(args)} (write a path that starts with - as ./-…)\n`);
    process.exitCode = 2;
    return;
  }
  if (url === undefined || url === '') {
    process.stderr.write('export-linksets-tarball: set PGURI (or CONCELIER_PG_URI)\n');
    process.exitCode = 2;
    return;
  }
  const result = await exportDataset(
    {
      pg: url,
      schema: process.env.PGSCHEMA || 'lnm_raw',
      tables: {
        'linksets.ndjson': process.env.LINKSETS_TABLE || 'linksets_raw',
        'advisory_chunks.ndjson': process.env.CHUNKS_TABLE || 'advisory_chunks_raw',
      },
    },
    out,
    // Staged with the tarball and renamed right after it, so a run killed midway leaves no torn .sha256.
    { sha256File: true },
  );
  if (result.isErr()) {
    process.stderr.write(`export-linksets-tarball: ${result.error.code}: ${result.error.message}\n  fix: ${result.error.fix}\n`);
    process.exitCode = 1;
    return;
  }
  const { sha256, bytes, tables, manifest } = result.value;
  for (const t of tables) process.stderr.write(`${t.table} → ${t.member}: ${t.rows} rows\n`);
  process.stderr.write(`manifest: ${JSON.stringify(manifest)}\n${bytes} bytes\n`);
  process.stdout.write(`${sha256}  ${out}\n`);
}

await main();
