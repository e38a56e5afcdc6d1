// Times one async function in this (plain node) process while sampling RSS
// every 10 ms, and prints `{ seconds, peakRssMiB, cpuSeconds,
// mainThreadCpuSeconds, ...fields, ...after() }` as JSON. `after` runs once
// the clock has stopped (say, to ask the server what the work cost it).
// process.memoryUsage.rss() is cheap; the full memoryUsage() walks the heap
// and cost a measured dataset pass ~20 ms of main-thread time.
export async function measureAndPrint(fn, after = async () => ({})) {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const cpu = process.cpuUsage();
  // process.threadCpuUsage arrived in Node 23.9; without it the figure is null.
  const mainCpu = process.threadCpuUsage?.();
  const start = process.hrtime.bigint();
  const fields = await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuSeconds = usedSeconds(process.cpuUsage(cpu));
  const mainThreadCpuSeconds = mainCpu === undefined ? null : usedSeconds(process.threadCpuUsage(mainCpu));
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  const extra = await after();
  process.stdout.write(JSON.stringify({ ...fields, seconds, peakRssMiB: peak / 1048576, cpuSeconds, mainThreadCpuSeconds, ...extra }));
}

function usedSeconds({ user, system }) {
  return (user + system) / 1e6;
}
