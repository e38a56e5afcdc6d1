// One measured swap import of a multi-member dataset, run by
// bench/cases/staging.ts in a fresh plain-node process on dist/. `pool`
// passes a connection string, so each table loads on a connection of its
// own; `client` passes one pg.Client, so the tables load one after another
// on it (the single-connection swap). Besides the time, it prints the
// `/proc/<pid>/stat` line of every server backend the import opened
// (`serverStats`, read with pg_read_file: a superuser on the same host;
// empty otherwise), so the case can add up what the import cost the server.
import pg from 'pg';
import { StagingImporter } from '../../dist/staging/index.js';
import { measureAndPrint } from './measure.mjs';

const [url, file, mode, expectedSha256, tablesJson] = process.argv.slice(2);
const client = mode === 'client' ? new pg.Client({ connectionString: url }) : undefined;
const probe = new pg.Client({ connectionString: url });
await probe.connect();
const started = new Date();
let importer;
// Connecting is inside the measurement for both modes (the pool connects lazily).
await measureAndPrint(
  async () => {
    await client?.connect();
    importer = new StagingImporter({ pg: client ?? url, schema: 'bench', tables: JSON.parse(tablesJson) });
    const report = (await importer.import(file, { strategy: 'swap', expectedSha256 }))._unsafeUnwrap();
    return { rows: report.rows, lockHeldMs: report.lock?.lockHeldMs ?? 0, sha256: report.sha256 ?? '' };
  },
  // Before the importer closes its connections: their backends still run.
  async () => ({ serverStats: await backendStats() }),
);
await importer.close();
await client?.end();
await probe.end();

async function backendStats() {
  try {
    const { rows } = await probe.query(
      `SELECT pg_read_file('/proc/' || pid || '/stat') AS stat FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start >= $1`,
      [started],
    );
    return rows.map((r) => r.stat);
  } catch {
    return [];
  }
}
