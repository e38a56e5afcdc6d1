/**
 * Child process for the SIGKILL test: imports a dataset and prints
 * `ROWS <n>` as it goes, so the parent can kill it mid-COPY.
 * argv: <database url> <schema> <tarball> <strategy>
 */
import { StagingImporter } from '../../../src/staging/index.js';
import { TABLES } from './fixtures.js';

const [url, schema, path, strategy] = process.argv.slice(2) as [string, string, string, 'truncate' | 'swap'];
const importer = new StagingImporter({ pg: url, schema, tables: TABLES });
const result = await importer.import(path, {
  strategy,
  batchBytes: 16 * 1024,
  progressEveryRows: 1000,
  onProgress: (p) => process.stdout.write(`ROWS ${p.rows}\n`),
});
process.stdout.write(result.isOk() ? 'DONE\n' : `FAILED ${result.error.code}\n`);
await importer.close();
