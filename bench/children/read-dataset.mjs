// One measured readDataset pass, run by bench/cases/dataset.ts in a fresh
// plain-node process on the compiled package (dist/), so the peak RSS is the
// library's own and not a TypeScript loader's.
import { readDataset } from '../../dist/dataset/index.js';
import { measureAndPrint } from './measure.mjs';

// An optional fourth argument is readDataset's options as JSON (say, {"memberDigests":false}).
const [mode, file, member, options = '{}'] = process.argv.slice(2);
await measureAndPrint(async () => {
  let n = 0;
  const ds = readDataset(file, JSON.parse(options));
  if (mode === 'scan') {
    const { stats } = (await ds.scan())._unsafeUnwrap();
    return { n: stats.members.find((m) => m.name === member).records };
  }
  for await (const entry of ds) {
    if (entry.name !== member) continue;
    if (mode === 'lineBatches') for await (const b of entry.lineBatches()) n += b.length;
    else if (mode === 'byteLineBatches') for await (const b of entry.lineBatches({ encoding: 'buffer' })) n += b.length;
    else if (mode === 'recordBatches') for await (const b of entry.recordBatches()) n += b.length;
    else if (mode === 'lines') for await (const _line of entry.lines()) n += 1;
    else for await (const _record of entry.records()) n += 1;
  }
  (await ds.stats())._unsafeUnwrap(); // the same pass also produced every hash and count
  return { n };
});
