/**
 * `statements` case: StatementBackfiller, PostgreSQL raw documents →
 * PostgreSQL statements, over BENCH_DOCS (default 100,000) generated
 * documents mixing OpenVEX, CSAF and CycloneDX (5 % broken).
 * Our run is measured at each BENCH_BATCHES size (default 500, the 21-102
 * backfill's, and 2000). Baselines in the same run, after a CHECKPOINT each:
 * - a naive loop: one transaction per document, one INSERT per claim
 *   (timed on BENCH_NAIVE_DOCS documents, default 1,000, and compared by rate);
 * - `psql \copy` of the same final claim rows into an identical table (the limit).
 * Our run happens in a child process so its peak RSS is its own; a second
 * child over a quarter of the documents shows whether memory stays flat.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { StatementBackfiller } from '../../src/statements/statement-backfiller.js';
import { PgRawDocumentSource } from '../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../src/statements/pg-statement-sink.js';
import { defaultVexNormalizers } from '../../src/statements/defaults.js';
import { generateVexDocuments } from '../../src/testing/vex-documents.js';
import { BENCH_TMP, envInt, measure, report, timeShell, toolsFor, withCleanup, withScratchDatabase } from '../lib.js';

/** The 21-102 backfill runs with `--batch-size=500`; a larger batch shows what fewer commits buy. */
const BATCHES = (process.env.BENCH_BATCHES ?? '500,2000')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);

function sinkFor(pool: pg.Pool, schema: string): PgStatementSink {
  return new PgStatementSink({
    pg: pool,
    statementsTable: `${schema}.statements`,
    documentsTable: `${schema}.documents`,
    checkpointsTable: `${schema}.checkpoints`,
    failuresTable: `${schema}.failures`,
  });
}

/** Child mode: one measured backfill in a fresh process. */
async function child(url: string, schema: string, maxDocuments: number, batchSize: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const backfiller = new StatementBackfiller({
    source: new PgRawDocumentSource({ pg: pool }),
    sink: sinkFor(pool, schema),
    normalizers: defaultVexNormalizers,
  });
  const m = await measure(async () => (await backfiller.run({ batchSize, maxDocuments }))._unsafeUnwrap());
  await pool.end();
  process.stdout.write(
    JSON.stringify({
      seconds: m.seconds,
      peakRssMiB: m.peakRssMiB,
      claims: m.value.claimsWritten,
      evaluated: m.value.evaluated,
      text: m.value.text,
    }),
  );
}

function runChild(
  url: string,
  schema: string,
  maxDocuments: number,
  batchSize: number,
): { seconds: number; peakRssMiB: number; claims: number; evaluated: number; text: string } {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), 'child', url, schema, String(maxDocuments), String(batchSize)],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    },
  );
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The naive loop: page through documents, one transaction and one INSERT per claim for each. */
async function naive(pool: pg.Pool, limit: number): Promise<number> {
  const sink = sinkFor(pool, 'naive');
  (await sink.prepare())._unsafeUnwrap();
  const source = new PgRawDocumentSource({ pg: pool });
  const docs = (await source.readPage({ limit }))._unsafeUnwrap();
  const client = await pool.connect();
  let claims = 0;
  try {
    for (const doc of docs) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(doc.content as string);
      } catch {
        continue;
      }
      const normalizer = defaultVexNormalizers.find((n) => n.canNormalize(parsed));
      const result = normalizer?.normalize(parsed, { digest: doc.digest, retrievedAt: doc.retrievedAt });
      if (!result || result.isErr()) continue;
      await client.query('BEGIN');
      const seen = await client.query('SELECT 1 FROM naive.documents WHERE document_digest = $1', [doc.digest]);
      if (seen.rowCount === 0) {
        for (const c of result.value) {
          const r = await client.query(
            `INSERT INTO naive.statements (document_digest, vulnerability_id, product_key, status, justification, statement, issued_at, format, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'naive') ON CONFLICT DO NOTHING`,
            [
              c.documentDigest,
              c.vulnerabilityId,
              c.productKey,
              c.status,
              c.justification ?? null,
              c.statement ?? null,
              c.issuedAt ?? null,
              c.format,
            ],
          );
          claims += r.rowCount ?? 0;
        }
        await client.query(`INSERT INTO naive.documents (document_digest, format, claims, run_id) VALUES ($1, $2, $3, 'naive')`, [
          doc.digest,
          normalizer!.format,
          result.value.length,
        ]);
      }
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
  return claims;
}

async function main(): Promise<void> {
  await withScratchDatabase('statements', (url) => {
    const copyFile = join(BENCH_TMP, `${new URL(url).pathname.slice(1)}.claims.tsv`);
    return withCleanup(
      () => rmSync(copyFile, { force: true }),
      () => measureAll(url, copyFile),
    );
  });
}

async function measureAll(url: string, copyFile: string): Promise<void> {
  const docs = envInt('BENCH_DOCS', 100_000);
  const naiveDocs = Math.min(docs, envInt('BENCH_NAIVE_DOCS', 1000));
  const withPsql = toolsFor('statements: the psql \\copy baseline', ['psql']);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // DROP … WITH (FORCE) ends idle pool connections; that is expected here.
  pool.on('error', () => undefined);
  try {
    const source = new PgRawDocumentSource({ pg: pool });
    (await source.prepare())._unsafeUnwrap();
    let chunk: { digest: string; retrievedAt: Date; content: string }[] = [];
    for (const d of generateVexDocuments({ seed: 2026, count: docs, brokenRatio: 0.05 })) {
      chunk.push({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content });
      if (chunk.length === 2000) {
        (await source.append(chunk))._unsafeUnwrap();
        chunk = [];
      }
    }
    if (chunk.length) (await source.append(chunk))._unsafeUnwrap();
    await pool.query('VACUUM ANALYZE vex.raw_documents');

    // Each measured phase starts from a flushed buffer cache, so none pays for another's writes.
    const settle = (): Promise<unknown> => pool.query('CHECKPOINT');
    const firstBatch = BATCHES[0] ?? 500;
    await settle();
    const quarter = runChild(url, 'quarter', Math.max(1, Math.floor(docs / 4)), firstBatch);
    const runs: { batchSize: number; r: ReturnType<typeof runChild> }[] = [];
    for (const batchSize of BATCHES) {
      await settle();
      runs.push({ batchSize, r: runChild(url, `ours_${batchSize}`, docs, batchSize) });
    }
    const ours = runs[0]!.r;

    await settle();
    const naiveStart = process.hrtime.bigint();
    const naiveClaims = await naive(pool, naiveDocs);
    const naiveSeconds = Number(process.hrtime.bigint() - naiveStart) / 1e9;

    // The limit: COPY the very rows our run produced into an identical, empty table.
    let copied = 0;
    let copySeconds = 0;
    if (withPsql) {
      const oursTable = `ours_${firstBatch}.statements`;
      await pool.query(`CREATE TABLE copy_target (LIKE ${oursTable} INCLUDING ALL)`);
      const cols = 'document_digest, vulnerability_id, product_key, status, justification, statement, issued_at, format, run_id';
      await timeShell(`psql -X -q -v ON_ERROR_STOP=1 -d '${url}' -c "\\copy (SELECT ${cols} FROM ${oursTable}) TO '${copyFile}'"`);
      await settle();
      copySeconds = (await timeShell(`psql -X -q -v ON_ERROR_STOP=1 -d '${url}' -c "\\copy copy_target (${cols}) FROM '${copyFile}'"`))
        .seconds;
      copied = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM copy_target')).rows[0]?.n);
      if (copied !== ours.claims) throw new Error(`COPY loaded ${copied} rows, expected ${ours.claims}`);
    }

    const naiveRate = naiveClaims / naiveSeconds;
    const copyRate = copied / copySeconds;
    for (const { batchSize, r } of runs) {
      if (r.text !== ours.text) throw new Error(`batch size ${batchSize} gave a different summary: ${r.text}`);
      const rate = r.claims / r.seconds;
      const common = {
        case: 'statements',
        unit: 'claims/s',
        documents: docs,
        batchSize,
        n: r.claims,
        seconds: r.seconds,
        throughput: rate,
        peakRssMiB: r.peakRssMiB,
      };
      report({
        ...common,
        baseline: `naive loop, 1 tx/document (${naiveDocs} docs, rate extrapolated)`,
        ratio: rate / naiveRate,
        summary: r.text,
      });
      if (withPsql) report({ ...common, baseline: 'psql \\copy of the same claim rows', ratio: rate / copyRate });
    }
    const base = { unit: 'claims/s', baseline: null, ratio: null, peakRssMiB: null };
    report({ ...base, case: 'statements:naive', n: naiveClaims, seconds: naiveSeconds, throughput: naiveRate, documents: naiveDocs });
    if (withPsql) report({ ...base, case: 'statements:copy', n: copied, seconds: copySeconds, throughput: copyRate, documents: docs });
    report({
      case: 'statements:quarter',
      unit: 'claims/s',
      n: quarter.claims,
      seconds: quarter.seconds,
      throughput: quarter.claims / quarter.seconds,
      peakRssMiB: quarter.peakRssMiB,
      baseline: 'same run over all documents (RSS ratio)',
      ratio: ours.peakRssMiB / quarter.peakRssMiB,
      documents: quarter.evaluated,
      batchSize: firstBatch,
    });
  } finally {
    await pool.end();
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4]!, Number(process.argv[5]), Number(process.argv[6]));
else await main();
