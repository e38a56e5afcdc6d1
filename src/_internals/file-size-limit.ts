import { readFile } from 'node:fs/promises';

/** The `Max file size` line of `/proc/<pid>/limits`: its soft limit, a byte count or `unlimited`. */
const MAX_FILE_SIZE = /^Max file size\s+(unlimited|[0-9]+)\s/m;

/**
 * The largest file this process may write, in bytes: its soft
 * `RLIMIT_FSIZE` (`ulimit -f`, systemd's `LimitFSIZE=`), or `Infinity`
 * when there is none or the system does not say (no `/proc/self/limits`).
 * A write past it is cut short at the limit: Node ignores `SIGXFSZ`, so the
 * process is not stopped, and the file is left holding part of what was
 * written.
 */
export async function fileSizeLimit(): Promise<number> {
  const text = await readFile('/proc/self/limits', 'latin1').catch(() => '');
  const soft = MAX_FILE_SIZE.exec(text)?.[1];
  if (soft === undefined || soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const bytes = Number(soft);
  return Number.isSafeInteger(bytes) ? bytes : Number.POSITIVE_INFINITY;
}
