/**
 * Loaded with `node --import` into a process under test: before it opens
 * a path ending in `PAUSE_BEFORE_OPEN_OF` for appending (`O_APPEND`), it
 * creates the file `PAUSE_SIGNAL` and waits until that file is gone, so a
 * test can change the file system at that exact step.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const suffix = process.env.PAUSE_BEFORE_OPEN_OF;
const signal = process.env.PAUSE_SIGNAL;
const open = fs.promises.open;
fs.promises.open = async (path, flags, ...rest) => {
  if (suffix && signal && String(path).endsWith(suffix) && typeof flags === 'number' && (flags & fs.constants.O_APPEND) !== 0) {
    fs.writeFileSync(signal, '');
    while (fs.existsSync(signal)) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return open(path, flags, ...rest);
};
// `import { open } from 'node:fs/promises'` in the code under test sees the wrapper too.
syncBuiltinESMExports();
