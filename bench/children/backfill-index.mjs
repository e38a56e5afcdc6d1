// One measured backfillIndex run, started by bench/cases/index-backfill.ts in
// a fresh plain-node process on the compiled package (dist/), so its time,
// CPU and peak RSS are the library's own and not a TypeScript loader's.
import { backfillIndex } from '../../dist/index-backfill/index.js';
import { measureAndPrint } from './measure.mjs';

const [root, index] = process.argv.slice(2);
const cpu = process.cpuUsage();
await measureAndPrint(async () => {
  const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
  const used = process.cpuUsage(cpu);
  // process.cpuUsage covers every thread of the process, the hashing workers included.
  return { appended: report.appended, cpuSeconds: (used.user + used.system) / 1e6 };
});
