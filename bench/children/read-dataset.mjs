// One measured readDataset pass, run by bench/cases/dataset.ts in a fresh
// plain-node process on the compiled package (dist/), so the peak RSS is the
// library's own and not a TypeScript loader's.
import { readDataset } from '../../dist/dataset/index.js';

const [mode, file, member] = process.argv.slice(2);
let peak = process.memoryUsage().rss;
const timer = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 10);
const start = process.hrtime.bigint();
let n = 0;
const ds = readDataset(file);
if (mode === 'scan') {
  const { stats } = (await ds.scan())._unsafeUnwrap();
  n = stats.members.find((m) => m.name === member).records;
} else {
  for await (const entry of ds) {
    if (entry.name !== member) continue;
    if (mode === 'lineBatches') for await (const b of entry.lineBatches()) n += b.length;
    else if (mode === 'recordBatches') for await (const b of entry.recordBatches()) n += b.length;
    else if (mode === 'lines') for await (const l of entry.lines()) void l, (n += 1);
    else for await (const r of entry.records()) void r, (n += 1);
  }
  (await ds.stats())._unsafeUnwrap(); // the same pass also produced every hash and count
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
clearInterval(timer);
peak = Math.max(peak, process.memoryUsage().rss);
process.stdout.write(JSON.stringify({ n, seconds, peakRssMiB: peak / 1048576 }));
