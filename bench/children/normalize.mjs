// The statement backfill's CPU-bound work alone: parses and normalizes the
// documents of a JSON-lines file (argv[2]) with the built-in normalizers
// of the built package, and prints the seconds the loop took, then the
// seconds of CPU the process used meanwhile on all its threads (reading the
// file and a warm-up pass over the first 100 documents not counted). Run
// by bench/cases/statements-workers.ts once alone and twice at once: what
// a second core adds to this work on this machine. Unlike the spin loop,
// it allocates and compiles, so V8's garbage-collector and compiler
// threads work beside it: alone, it keeps more than one core busy.
import { readFileSync } from 'node:fs';
import { defaultVexNormalizers } from '../../dist/statements/defaults.js';
import { normalizeDocument } from '../../dist/statements/normalize.js';

const docs = readFileSync(process.argv[2], 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => JSON.parse(line));
const run = (list) => {
  for (const doc of list) normalizeDocument(defaultVexNormalizers, doc);
};
run(docs.slice(0, 100));
const start = process.hrtime.bigint();
const cpu = process.cpuUsage();
run(docs);
const { user, system } = process.cpuUsage(cpu);
process.stdout.write(`${Number(process.hrtime.bigint() - start) / 1e9} ${(user + system) / 1e6}\n`);
