// A fixed amount of pure JavaScript work (no I/O, no allocation), run by
// bench/cases/statements-workers.ts once alone and twice at once: how much
// a second core adds on this machine, the most a second worker can add.
let x = 0;
for (let i = 0; i < 150_000_000; i += 1) x = (x + i * 7) % 1_000_003;
process.stdout.write(`${x}\n`);
