// One measured StagingImporter.import, run by bench/cases/staging.ts in a
// fresh plain-node process on the compiled package (dist/), so the peak RSS
// is the library's own and not a TypeScript loader's.
import { StagingImporter } from '../../dist/staging/index.js';
import { measureAndPrint } from './measure.mjs';

const [url, file, strategy, expectedSha256, member] = process.argv.slice(2);
const importer = new StagingImporter({ pg: url, schema: 'bench', tables: { [member]: 'importer_t' } });
await measureAndPrint(async () => {
  const report = (await importer.import(file, { strategy, expectedSha256 }))._unsafeUnwrap();
  return { rows: report.rows, lockHeldMs: report.lock?.lockHeldMs ?? 0, sha256: report.sha256 ?? '' };
});
await importer.close();
