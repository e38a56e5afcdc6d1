import { accessSync, constants } from 'node:fs';

/** Writing `n` here makes the next process (or thread) the kernel creates get id `n + 1`, unless another takes it first. */
export const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';

/** Whether a test may choose the next pid (root, and a kernel that lets it). */
export function canChoosePids(): boolean {
  try {
    accessSync(NS_LAST_PID, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
