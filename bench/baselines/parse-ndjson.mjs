// Baseline for parsed iteration: readline over stdin, JSON.parse per line.
import { createInterface } from 'node:readline';

let records = 0;
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.length === 0) continue;
  JSON.parse(line);
  records += 1;
}
process.stdout.write(`${records}\n`);
