// One measured swap import of a multi-member dataset, run by
// bench/cases/staging.ts in a fresh plain-node process on dist/. `pool`
// passes a connection string, so each table loads on a connection of its
// own; `client` passes one pg.Client, so the tables load one after another
// on it (the single-connection swap).
import pg from 'pg';
import { StagingImporter } from '../../dist/staging/index.js';
import { measureAndPrint } from './measure.mjs';

const [url, file, mode, expectedSha256, tablesJson] = process.argv.slice(2);
const client = mode === 'client' ? new pg.Client({ connectionString: url }) : undefined;
await client?.connect();
const importer = new StagingImporter({ pg: client ?? url, schema: 'bench', tables: JSON.parse(tablesJson) });
await measureAndPrint(async () => {
  const report = (await importer.import(file, { strategy: 'swap', expectedSha256 }))._unsafeUnwrap();
  return { rows: report.rows, lockHeldMs: report.lock?.lockHeldMs ?? 0, sha256: report.sha256 ?? '' };
});
await importer.close();
await client?.end();
