/**
 * A process that takes the index backfill's lock when told to, for tests of
 * several processes contending for one lock. With `hold` as its second
 * argument it takes the lock once and keeps it until killed. Otherwise it
 * reads lines `<round> <epoch ms>` on stdin, spins until that instant (so
 * the contenders start together), tries the lock, and if taken holds it
 * 20 ms with the file `<lock>.inside` created (`wx`) meanwhile: it prints
 * `<round> held` when it could create that file, `<round> overlap` when
 * another holder had it, or `<round> refused <code>`.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { acquireLock } from '../../src/index-backfill/lock-file.js';

const path = process.argv[2]!;
const now = (): number => performance.timeOrigin + performance.now();

if (process.argv[3] === 'hold') {
  const held = await acquireLock(path);
  if (held.isErr()) throw held.error;
  process.stdout.write('holding\n');
  setInterval(() => undefined, 60_000);
} else {
  for await (const line of createInterface({ input: process.stdin })) {
    const [round, startAt] = line.split(' ').map(Number) as [number, number];
    while (now() < startAt);
    const taken = await acquireLock(path);
    if (taken.isErr()) {
      process.stdout.write(`${round} refused ${taken.error.code}\n`);
      continue;
    }
    let alone = true;
    try {
      writeFileSync(`${path}.inside`, String(process.pid), { flag: 'wx' });
    } catch {
      alone = false;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (alone) unlinkSync(`${path}.inside`);
    await taken.value.release();
    process.stdout.write(`${round} ${alone ? 'held' : 'overlap'}\n`);
  }
}
