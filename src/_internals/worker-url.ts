import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The URL of the worker module `name` beside `base` (the caller's `import.meta.url`): `.ts` when
 * running from the sources, where Node strips the types, `.js` in the compiled package.
 */
export function workerModuleUrl(name: string, base: string): URL {
  return new URL(`./${name}${extname(fileURLToPath(base))}`, base);
}
