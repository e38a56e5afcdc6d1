// The whole main job end to end, with no setup: `npm run demo`.
// Replaces, in one run, the steps of the dataset, partition, statement backfill and release receiver runbooks:
// build-store-aoc-19-005-dataset.sh, test-store-aoc-19-005-dataset.sh and
// `sha256sum`, backfill-store-aoc-19-005.sh (import) and its truncate
// rollback, scanner-artifact-boms-ensure-partitions.sh 1 and
// scanner-artifact-boms-retention.sh 12 true, `stellaops excititor
// backfill-statements`, and `cis490-index-backfill --dry-run`.
//
// Uses the PostgreSQL at BACKFILL_KIT_PG_URL when it is set (in a throwaway
// database it drops at the end); otherwise starts an embedded PostgreSQL in a
// child process and stops it at the end. BACKFILL_KIT_DEMO_DATABASE_URL names
// an existing, empty database to use as it is instead (no CREATE DATABASE).
// Exits 1 if any step fails, 2 (before anything is started) when either
// variable is set to something that is not a postgres:// URL.
//
//   npm run demo
//   BACKFILL_KIT_PG_URL=postgres://postgres@127.0.0.1:5432/postgres npm run demo
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Result } from 'neverthrow';
import pg from 'pg';
import { parse as parseConnectionUrl } from 'pg-connection-string';
import type { BackfillError } from '../src/errors.js';
import { writeDataset } from '../src/dataset/index.js';
import { verifyDataset } from '../src/verify/index.js';
import { StagingImporter } from '../src/staging/index.js';
import { PartitionManager } from '../src/partitions/index.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../src/statements/index.js';
import { backfillIndex, formatIndexRow } from '../src/index-backfill/index.js';
import {
  buildEpisodeTarball,
  createThrowawayDatabase,
  generateAdvisoryChunks,
  generateLinksets,
  generateVexDocuments,
} from '../src/testing/index.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../test/support/embedded-pg.js';
import { answerHelp, reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('demo');

const TABLES = { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'advisory_chunks_raw' };
const NOW = new Date('2026-11-23T12:00:00Z');

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

function say(line: string): void {
  process.stdout.write(`   ${line}\n`);
}

/** The value of a Result, or a thrown error naming the step (the demo stops there). */
function must<T>(result: Result<T, BackfillError>, what: string): T {
  if (result.isErr()) throw new Error(`${what} failed: ${result.error.code}: ${result.error.message}`);
  return result.value;
}

async function main(work: string, serverUrl: string | undefined): Promise<void> {
  const given = process.env.BACKFILL_KIT_DEMO_DATABASE_URL;
  const db =
    given !== undefined && given !== ''
      ? { url: given, drop: async () => {} }
      : must(await createThrowawayDatabase({ serverUrl: serverUrl!, prefix: 'bk_demo_' }), 'creating the demo database');
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  try {
    // 1. Build a fixture dataset (the dataset runbook's build step).
    step('1. Build a deterministic fixture dataset');
    const tarball = join(work, 'linksets-stage-backfill.tar.zst');
    const written = must(
      await writeDataset(tarball, {
        members: { 'linksets.ndjson': generateLinksets(340, 7), 'advisory_chunks.ndjson': generateAdvisoryChunks(1200, 8) },
      }),
      'writeDataset',
    );
    say(`${written.sha256}  linksets-stage-backfill.tar.zst (${written.bytes} bytes)`);
    for (const m of written.manifest.members) say(`${m.name}: ${m.records} records, ${m.bytes} bytes`);
    await writeFile(`${tarball}.sha256`, `${written.sha256}  linksets-stage-backfill.tar.zst\n`);

    // 2. Verify it (test-store-aoc-19-005-dataset.sh + sha256sum).
    step('2. Verify the tarball against its manifest and recorded SHA-256');
    const verified = must(await verifyDataset(tarball), 'verifyDataset');
    say(`ok=${verified.ok}; tarball sha256 ${verified.archive.verdict} (from ${verified.archive.expectedFrom ?? 'nowhere'})`);
    for (const m of verified.members) say(`${m.name}: ${m.verdict} (checked ${m.checks.join(', ')})`);
    if (!verified.ok) throw new Error('the fixture dataset did not verify');

    // 3. Import into staging (backfill-store-aoc-19-005.sh).
    step('3. Import into staging tables lnm_raw.* (one transaction, counts checked before commit)');
    const importer = new StagingImporter({ pg: pool, schema: 'lnm_raw', tables: TABLES });
    const imported = must(await importer.import(tarball, { expectedSha256: written.sha256 }), 'import');
    for (const t of imported.tables)
      say(`${t.member} -> lnm_raw.${t.table}: ${t.loaded} rows (manifest ${t.expected}) ${t.ok ? 'OK' : 'MISMATCH'}`);
    say(`committed=${imported.committed}; checks: ${imported.checks.join(', ')}; ${Math.round(imported.rowsPerSecond)} rows/s`);

    // A dataset whose manifest disagrees is refused and changes nothing (never "COPY 0, exit 0").
    const lying = join(work, 'lying.tar.zst');
    must(
      await writeDataset(lying, { members: { 'linksets.ndjson': generateLinksets(3, 1), 'advisory_chunks.ndjson': [] } }),
      'writeDataset (bad)',
    );
    const refused = await importer.import(lying, { expectedSha256: '0'.repeat(64) });
    if (refused.isOk()) throw new Error('a tarball with the wrong SHA-256 was imported');
    say(
      `a tarball whose recorded SHA-256 does not match is refused: ${refused.error.code}; counts unchanged: ${JSON.stringify(must(await importer.counts(), 'counts'))}`,
    );

    // 4. Roll back (the runbook's truncate).
    step('4. Roll back the staging import');
    must(await importer.rollback(), 'rollback');
    say(`counts after rollback: ${JSON.stringify(must(await importer.counts(), 'counts'))}`);

    // 5. Partitions (the partition runbook): ensure ahead, then a retention dry run.
    step('5. Partitions of scanner.artifact_boms: ensure, then retention dry run (keep 12)');
    const boms = new PartitionManager({ pg: pool, table: 'scanner.artifact_boms', column: 'inserted_at', interval: 'month', now: NOW });
    await pool.query('CREATE SCHEMA IF NOT EXISTS scanner');
    must(
      await boms.createParent({
        columns: [
          { name: 'canonical_bom_sha256', type: 'text', notNull: true },
          { name: 'inserted_at', type: 'timestamptz', notNull: true },
          { name: 'bom', type: 'jsonb' },
        ],
        primaryKey: ['canonical_bom_sha256', 'inserted_at'],
      }),
      'createParent',
    );
    // Fourteen months of history, as a table that has been running for a while would have.
    must(await boms.ensure({ ahead: 0, behind: 14 }), 'ensure (history)');
    const ensured = must(await boms.ensure({ ahead: 1 }), 'ensure');
    say(
      `ensure(ahead 1): created ${ensured.created.map((c) => c.name).join(', ') || 'nothing'}; ${ensured.existing.length} already present`,
    );
    const plan = must(await boms.retention({ keep: 12, dryRun: true }), 'retention');
    say(
      `retention dry run, cutoff ${plan.cutoff.toISOString().slice(0, 10)}: would drop ${plan.candidates.map((c) => c.name).join(', ') || 'nothing'}`,
    );
    say(`partitions still present: ${must(await boms.list(), 'list').length}`);

    // 6. Statements (the statement backfill runbook): replay generated raw VEX documents.
    step('6. Backfill statements from 300 generated raw VEX documents (OpenVEX, CSAF, CycloneDX, a few broken)');
    const source = new PgRawDocumentSource({ pg: pool });
    const sink = new PgStatementSink({ pg: pool });
    must(await source.prepare(), 'raw document table');
    must(await sink.prepare(), 'statement tables');
    const docs = [...generateVexDocuments({ seed: 4, count: 300, brokenRatio: 0.03 })];
    must(
      await source.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content }))),
      'append raw documents',
    );
    const backfiller = new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers });
    const first = must(await backfiller.run({ batchSize: 100 }), 'backfill');
    say(first.text);
    for (const f of first.failed.slice(0, 3)) say(`failed ${f.digest.slice(0, 19)}…: ${f.code}`);
    const again = must(await backfiller.run({ batchSize: 100 }), 'backfill (rerun)');
    say(`rerun without --force: ${again.text}`);

    // 7. Index backfill (the release receiver's index rebuild) on a generated episode tree.
    step('7. Index backfill on a generated episode tree (2 hosts x 3 episodes, 2 already indexed)');
    const root = join(work, 'episodes');
    const index = join(work, 'index.jsonl');
    const existing: string[] = [];
    for (const host of ['lab-a', 'lab-b']) {
      for (let i = 1; i <= 3; i += 1) {
        const id = `ep-${host}-${String(i).padStart(4, '0')}`;
        const built = must(
          await buildEpisodeTarball({
            meta: { episode_id: id, code_version: { commit: `${i}`.repeat(40) } },
            files: { 'frames.bin': Buffer.alloc(2048, i) },
            path: join(root, host, `${id}.tar.zst`),
          }),
          'buildEpisodeTarball',
        );
        if (i === 1) existing.push(JSON.stringify({ episode_id: id, host_id: host, sha256: built.sha256 }));
      }
    }
    await writeFile(index, `${existing.join('\n')}\n`);
    const dry = must(await backfillIndex({ episodesRoot: root, index, dryRun: true, now: () => NOW }), 'index backfill (dry run)');
    say(`dry run: scanned: ${dry.scanned} already-indexed: ${dry.alreadyIndexed} to-backfill: ${dry.toBackfill}`);
    say(formatIndexRow(dry.rows[0]!));
    const real = must(await backfillIndex({ episodesRoot: root, index, now: () => NOW }), 'index backfill');
    say(`backfilled ${real.appended} rows into index.jsonl`);

    step('Done: every step succeeded.');
    say('The same steps from a shell: npm run cli -- --help (npx backfill-kit --help once installed)');
  } finally {
    await pool.end();
    await db.drop();
  }
}

/** A setting that can never work stops the demo with exit 2, as in the other examples, before anything is started. */
function badSetting(message: string): never {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(2);
}

/**
 * The host (and port) of the connection URL in the variable `name`, or
 * undefined when it is unset. A value pg cannot read as a `postgres://` URL
 * stops the demo naming the variable and the form it takes, never quoting
 * the value: it may hold a password.
 */
function serverOf(name: string): string | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  let parsed: ReturnType<typeof parseConnectionUrl> | undefined;
  try {
    if (/^postgres(ql)?:\/\//i.test(value.trim())) parsed = parseConnectionUrl(value.trim());
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined)
    badSetting(
      `${name} is not a connection URL pg can read; set it to postgres://user:password@host:port/database (percent-encode special characters in the user and password), or unset it.`,
    );
  return `${parsed.host ?? 'localhost'}${parsed.port ? `:${parsed.port}` : ''}`;
}

// It takes no arguments: `npm run demo -- --help` must not start a PostgreSQL and run every step.
const args = process.argv.slice(2);
const USAGE = 'usage: demo (no arguments; settings in the environment: BACKFILL_KIT_PG_URL, BACKFILL_KIT_DEMO_DATABASE_URL)';
answerHelp(args, USAGE);
if (args.length > 0) badSetting(`${USAGE}; got ${JSON.stringify(args)}`);

const givenServer = serverOf('BACKFILL_KIT_PG_URL');
const givenDatabase = serverOf('BACKFILL_KIT_DEMO_DATABASE_URL');
const work = mkdtempSync(join(tmpdir(), 'backfill-kit-demo-'));
let embedded: EmbeddedPostgres | undefined;
let exitCode = 0;
try {
  let serverUrl = process.env.BACKFILL_KIT_PG_URL;
  if ((serverUrl === undefined || serverUrl === '') && !process.env.BACKFILL_KIT_DEMO_DATABASE_URL) {
    process.stdout.write('Starting an embedded PostgreSQL (BACKFILL_KIT_PG_URL is not set)…\n');
    embedded = await startEmbeddedPostgres(work);
    serverUrl = embedded.url;
  }
  process.stdout.write(`PostgreSQL: ${embedded === undefined ? (givenServer ?? givenDatabase) : new URL(embedded.url).host}\n`);
  await main(work, serverUrl);
} catch (error) {
  process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  exitCode = 1;
} finally {
  await embedded?.stop();
  rmSync(work, { recursive: true, force: true });
}
process.exitCode = exitCode;
