/**
 * Builds the package from a clean `dist/` (`npm run build`, run by `prepack`):
 *
 * 1. `tsc -p tsconfig.build.json`: the ESM implementation, declarations and
 *    source maps in `dist/` (the maps point at `src/`, which is shipped).
 * 2. `dist/_internals/package-json.js` gets package.json's name, version and
 *    engines as a literal ({@link builtPackageJson}), so the built package
 *    reads no package.json at run time: bundled into an application, the
 *    file next to it would be some other package's.
 * 3. `dist/cjs/`, the CommonJS face of every subpath that has a `require`
 *    branch in package.json's `exports`: a one-line `require()` of the ESM
 *    entry (Node >= 22.12 loads ES modules with `require`) and a copy of the
 *    declarations, which TypeScript reads as CommonJS there.
 *
 * CommonJS callers thus run the one ESM implementation, not a second build:
 * one `BackfillError` class for `instanceof`, and the worker threads that the
 * ESM code starts from `import.meta.url` work the same from both.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Branch {
  types: string;
  default: string;
}
type ExportTarget = string | { import?: Branch; require?: Branch };

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const cjs = join(dist, 'cjs');

/** Every `require` branch of the exports map, with the ESM entry it stands for. */
export function commonJsEntries(exportsMap: Record<string, ExportTarget>): { esm: string; cjs: string }[] {
  const entries: { esm: string; cjs: string }[] = [];
  for (const target of Object.values(exportsMap)) {
    if (typeof target === 'string' || !target.require || !target.import) continue;
    entries.push({ esm: target.import.default, cjs: target.require.default });
  }
  return entries;
}

/** The CommonJS wrapper at `cjsPath` that loads the ES module at `esmPath` (both package-relative). */
export function wrapperSource(cjsPath: string, esmPath: string): string {
  let spec = posix.relative(posix.dirname(cjsPath), esmPath);
  if (!spec.startsWith('.')) spec = `./${spec}`;
  return `'use strict';\n// The package is ESM; Node >= 22.12 loads it with require(). See the README's "CommonJS" section.\nmodule.exports = require(${JSON.stringify(spec)});\n`;
}

/** What tsc makes of the sources' `builtPackageJson` declaration, which the build replaces. */
export const BUILT_PACKAGE_JSON_PLACEHOLDER = 'const builtPackageJson = undefined;';

/**
 * The compiled `_internals/package-json.js` with package.json's name, version
 * and engines written into it as a literal; throws if the placeholder is not
 * there exactly once.
 */
export function builtPackageJson(compiled: string, pkg: { name?: unknown; version?: unknown; engines?: { node?: unknown } }): string {
  const parts = compiled.split(BUILT_PACKAGE_JSON_PLACEHOLDER);
  if (parts.length !== 2)
    throw new Error(
      `expected "${BUILT_PACKAGE_JSON_PLACEHOLDER}" once in the compiled package-json.js, found it ${parts.length - 1} times`,
    );
  if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string') throw new Error('package.json has no name or no version');
  const fields = {
    name: pkg.name,
    version: pkg.version,
    ...(typeof pkg.engines?.node === 'string' ? { engines: { node: pkg.engines.node } } : {}),
  };
  return parts.join(`const builtPackageJson = ${JSON.stringify(fields)};`);
}

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.d.ts') || f.endsWith('.d.ts.map'))
    .filter((f) => !f.startsWith(`cjs/`));
}

/** Copies dist's declarations under dist/cjs, re-pointing each declaration map at the same sources. */
function copyDeclarations(): void {
  for (const file of declarationFiles(dist)) {
    const from = join(dist, file);
    const to = join(cjs, file);
    mkdirSync(dirname(to), { recursive: true });
    if (!file.endsWith('.map')) {
      cpSync(from, to);
      continue;
    }
    const map = JSON.parse(readFileSync(from, 'utf8')) as { sources: string[] };
    map.sources = map.sources.map((s) =>
      relative(dirname(to), join(dirname(from), s))
        .split('\\')
        .join('/'),
    );
    writeFileSync(to, JSON.stringify(map));
  }
}

function main(): void {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name?: unknown;
    version?: unknown;
    engines?: { node?: unknown };
    exports: Record<string, ExportTarget>;
  };
  rmSync(dist, { recursive: true, force: true });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  const packageJsonModule = join(dist, '_internals', 'package-json.js');
  writeFileSync(packageJsonModule, builtPackageJson(readFileSync(packageJsonModule, 'utf8'), pkg));
  mkdirSync(cjs, { recursive: true });
  writeFileSync(join(cjs, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
  copyDeclarations();
  for (const { esm, cjs: wrapper } of commonJsEntries(pkg.exports)) {
    const out = join(root, wrapper);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, wrapperSource(posix.normalize(wrapper), posix.normalize(esm)));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
