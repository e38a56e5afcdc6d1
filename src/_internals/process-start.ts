import { readFile } from 'node:fs/promises';

/**
 * When process `pid` started, as the kernel counts it (`/proc/<pid>/stat`'s
 * `starttime`, clock ticks since boot), or undefined where there is no
 * `/proc` or no such process. A pid with another start time is another
 * process: ids are reused, and a restarted container often gives its new
 * process the id the old one had.
 */
export async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces or ')': count fields after the last ')'.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start !== undefined && /^[0-9]+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process `pid` exists (one of another user's counts: `EPERM`). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}
