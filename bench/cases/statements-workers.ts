/**
 * `statements-workers` case: the statement backfill on one process against
 * `statements backfill --workers 2` (plan, two worker processes on the
 * pg-boss job engine, report), both through the built CLI, over a
 * normalization-heavy corpus: BENCH_HEAVY_DOCS (default 3,000) large CSAF
 * VEX documents, each with a product tree of BENCH_HEAVY_PRODUCTS (default
 * 400) products and 3 vulnerabilities giving a status to 5 products each
 * (large trees, few statuses, as in vendors' CSAF VEX files), so normalizing
 * outweighs writing. pg-boss's schema is installed before the timed passes. Each pass writes into fresh tables;
 * BENCH_REPEATS (default 3) passes alternate which side goes first, and the
 * median ratio is reported. Both sides must print the same report hash.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PgRawDocumentSource } from '../../src/statements/pg-raw-document-source.js';
import { generateVexDocuments } from '../../src/testing/vex-documents.js';
import { envInt, median, report } from '../lib.js';

const SERVER = process.env.BACKFILL_KIT_PG_URL ?? process.env.PGURI ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** The built CLI (`npm run bench` builds first): process start-up is what a user's is, not a TypeScript loader's. */
const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Table flags putting a run's store (and plan, and job queue) in a schema of its own. */
function tables(schema: string): string[] {
  return [
    ...['statements', 'documents', 'checkpoints', 'failures', 'runs', 'ranges', 'workers'].flatMap((t) => [
      `--${t}-table`,
      `${schema}.${t}`,
    ]),
    '--jobs-schema',
    'bench_jobs',
  ];
}

/** Runs the CLI and returns its wall time and `--json` report. */
function timeCli(
  args: readonly string[],
  url: string,
): Promise<{ seconds: number; report: { text?: string; reportSha256?: string; summary?: { text: string; reportSha256: string } } }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [MAIN, ...args, '--json', '--quiet', '--pg', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      // Exit 4: finished with the corpus's broken documents as failures.
      if (code !== 0 && code !== 4) return reject(new Error(`backfill-kit ${args.join(' ')} exited ${code}: ${stdout}`));
      resolve({ seconds, report: (JSON.parse(stdout) as { report: never }).report });
    });
  });
}

async function main(): Promise<void> {
  const docs = envInt('BENCH_HEAVY_DOCS', 3000);
  const products = envInt('BENCH_HEAVY_PRODUCTS', 400);
  const repeats = envInt('BENCH_REPEATS', 3);
  const batchSize = envInt('BENCH_BATCH', 100);
  const rangeSize = envInt('BENCH_RANGE', 100);
  const name = `bk_bench_workers_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = withDatabase(SERVER, name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const source = new PgRawDocumentSource({ pg: pool });
    (await source.prepare())._unsafeUnwrap();
    let chunk: { digest: string; retrievedAt: Date; content: string }[] = [];
    let bytes = 0;
    for (const d of generateVexDocuments({
      seed: 2027,
      count: docs,
      brokenRatio: 0.02,
      formats: ['csaf'],
      productsPerDocument: products,
      vulnerabilitiesPerDocument: 3,
      statusedProductsPerVulnerability: 5,
    })) {
      chunk.push({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content });
      bytes += d.content.length;
      if (chunk.length === 200) {
        (await source.append(chunk))._unsafeUnwrap();
        chunk = [];
      }
    }
    if (chunk.length) (await source.append(chunk))._unsafeUnwrap();
    await pool.query('VACUUM ANALYZE vex.raw_documents');

    // Install the job engine's schema once, as a deployment would have it.
    await timeCli(['statements', 'worker', '--until-done', ...tables('warmup')], url);
    const ratios: number[] = [];
    const singles: number[] = [];
    const doubles: number[] = [];
    let text = '';
    for (let pass = 0; pass < repeats; pass += 1) {
      const one = async (): Promise<{ seconds: number; hash: string; text: string }> => {
        await pool.query('CHECKPOINT');
        const r = await timeCli(
          ['statements', 'backfill', '--run-id', 'one', '--batch-size', String(batchSize), ...tables(`one_${pass}`)],
          url,
        );
        return { seconds: r.seconds, hash: r.report.reportSha256 ?? '', text: r.report.text ?? '' };
      };
      const two = async (): Promise<{ seconds: number; hash: string; text: string }> => {
        await pool.query('CHECKPOINT');
        const r = await timeCli(
          [
            'statements',
            'backfill',
            '--run-id',
            'two',
            '--workers',
            '2',
            '--batch-size',
            String(batchSize),
            '--range-size',
            String(rangeSize),
            ...tables(`two_${pass}`),
          ],
          url,
        );
        return { seconds: r.seconds, hash: r.report.summary?.reportSha256 ?? '', text: r.report.summary?.text ?? '' };
      };
      const [a, b] = pass % 2 === 0 ? [await one(), await two()] : await two().then(async (t) => [await one(), t] as const);
      if (a.hash !== b.hash || a.text !== b.text) throw new Error(`different reports: ${a.text} ${a.hash} vs ${b.text} ${b.hash}`);
      text = a.text;
      singles.push(a.seconds);
      doubles.push(b.seconds);
      ratios.push(a.seconds / b.seconds);
    }
    const load = (await import('node:os')).loadavg()[0]!;
    const common = {
      unit: 'documents/s',
      documents: docs,
      productsPerDocument: products,
      corpusMiB: Math.round(bytes / 1048576),
      batchSize,
      rangeSize,
      loadAverage: Math.round(load * 10) / 10,
      summary: text,
    };
    report({
      ...common,
      case: 'statements-workers:1-process',
      n: docs,
      seconds: median(singles),
      throughput: docs / median(singles),
      peakRssMiB: null,
      baseline: null,
      ratio: null,
      runs: singles,
    });
    report({
      ...common,
      case: 'statements-workers:2-workers',
      n: docs,
      seconds: median(doubles),
      throughput: docs / median(doubles),
      peakRssMiB: null,
      baseline: '1 process (median of the per-pass ratios)',
      ratio: median(ratios),
      runs: doubles,
      ratios,
    });
  } finally {
    pool.on('error', () => undefined);
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

await main();
