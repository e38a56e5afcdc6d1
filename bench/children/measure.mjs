// Times one async function in this (plain node) process while sampling RSS
// every 10 ms, and prints `{ seconds, peakRssMiB, ...fields }` as JSON.
// process.memoryUsage.rss() is cheap; the full memoryUsage() walks the heap
// and cost a measured dataset pass ~20 ms of main-thread time.
export async function measureAndPrint(fn) {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const start = process.hrtime.bigint();
  const fields = await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  process.stdout.write(JSON.stringify({ ...fields, seconds, peakRssMiB: peak / 1048576 }));
}
