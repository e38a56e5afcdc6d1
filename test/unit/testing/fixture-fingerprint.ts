/** Prints a fingerprint of the testing fixtures for one seed each (run by determinism.test.ts in a child process). */
import { createHash } from 'node:crypto';
import { buildEpisodeTarball, generateAdvisoryChunks, generateLinksets, generateVexDocuments } from '../../../src/testing/index.js';

const vex = createHash('sha256');
for (const d of generateVexDocuments({ seed: 7, count: 3000, brokenRatio: 0.1 })) vex.update(`${JSON.stringify(d)}\n`);
for (const d of generateVexDocuments({
  seed: 8,
  count: 60,
  productsPerDocument: 40,
  vulnerabilitiesPerDocument: 4,
  statusedProductsPerVulnerability: 3,
})) {
  vex.update(`${JSON.stringify(d)}\n`);
}
const records = createHash('sha256');
for (const r of generateLinksets(2000, 3)) records.update(`${JSON.stringify(r)}\n`);
for (const r of generateAdvisoryChunks(2000, 4)) records.update(`${JSON.stringify(r)}\n`);
const built = await buildEpisodeTarball({
  meta: { code_version: { commit: 'a'.repeat(40) }, note: 'İı i' },
  files: { 'b.bin': Buffer.alloc(100_000, 7), 'ä/ünïcode-🚀.txt': 'x'.repeat(5000), [`${'d/'.repeat(60)}long.txt`]: 'y', Z: '', a: 'a' },
});
if (built.isErr()) throw built.error;
console.log(JSON.stringify({ vex: vex.digest('hex'), records: records.digest('hex'), tarball: built.value.sha256 }));
