/**
 * Renames a file over a path right after the code under test opens it, to
 * prove that it reads the file it opened and checked, never the path again.
 *
 * Importing this module wraps `fs.open` (and updates the ESM bindings of
 * `node:fs`), so the module under test must be loaded afterwards, with a
 * dynamic `import()`: a module that captured `open` earlier keeps the real
 * one. Threads have their own `node:fs` and are not affected: what they
 * open by name after the swap is the replacement.
 */
import fs, { renameSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

let armed: { path: string; replacement: string } | undefined;

const realOpen = fs.open;
fs.open = ((path: fs.PathLike, ...rest: unknown[]) => {
  const callback = rest.pop() as (error: NodeJS.ErrnoException | null, fd: number) => void;
  (realOpen as (...args: unknown[]) => void)(path, ...rest, (error: NodeJS.ErrnoException | null, fd: number) => {
    if (!error && armed && String(path) === armed.path) {
      renameSync(armed.replacement, armed.path);
      armed = undefined;
    }
    callback(error, fd);
  });
}) as typeof fs.open;
syncBuiltinESMExports();

/** The next successful `fs.open` of `path` renames `replacement` over it once the descriptor is open. */
export function swapAfterOpen(path: string, replacement: string): void {
  armed = { path, replacement };
}

/** Whether the armed swap has happened. */
export function swapped(): boolean {
  return armed === undefined;
}
