/**
 * Loaded with `node --import` into a process under test: the process
 * SIGKILLs itself right after it renames a file to the path in
 * `KILL_AFTER_RENAME_TO`, so a test can stop it at that exact step (a
 * window of microseconds a kill from outside would rarely hit).
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const target = process.env.KILL_AFTER_RENAME_TO;
const rename = fs.promises.rename;
fs.promises.rename = async (from, to) => {
  await rename(from, to);
  if (String(to) === target) process.kill(process.pid, 'SIGKILL');
};
// `import { rename } from 'node:fs/promises'` in the code under test sees the wrapper too.
syncBuiltinESMExports();
