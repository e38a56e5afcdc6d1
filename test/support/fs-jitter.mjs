/**
 * Loaded with `node --import` into a process under test: each call of
 * `fs.promises` `rename`, `link`, `unlink`, `open`, `writeFile` and
 * `readdir` waits first, at random: up to 1 ms mostly, and one call in
 * five up to 30 ms, as a process descheduled on a busy host does. Processes
 * racing each other through a few file operations then meet in every
 * order, not only the one their usual timing gives.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

for (const name of ['rename', 'link', 'unlink', 'open', 'writeFile', 'readdir']) {
  const original = fs.promises[name];
  fs.promises[name] = async (...args) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * (Math.random() < 0.2 ? 30 : 1)));
    return original(...args);
  };
}
// `import { rename } from 'node:fs/promises'` in the code under test sees the wrappers too.
syncBuiltinESMExports();
