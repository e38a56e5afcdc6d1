// A fixed amount of pure JavaScript work (no I/O, no allocation), run by
// bench/cases/statements-workers.ts once alone and twice at once: how much
// a second core adds on this machine to work that shares nothing. Prints
// the seconds the loop took, the seconds of CPU the process used meanwhile,
// then the loop's result (so the loop is not dropped). argv[2] sets the
// iterations (default 150,000,000).
const iterations = Number(process.argv[2] ?? 150_000_000);
const start = process.hrtime.bigint();
const cpu = process.cpuUsage();
let x = 0;
for (let i = 0; i < iterations; i += 1) x = (x + i * 7) % 1_000_003;
const { user, system } = process.cpuUsage(cpu);
process.stdout.write(`${Number(process.hrtime.bigint() - start) / 1e9} ${(user + system) / 1e6} ${x}\n`);
