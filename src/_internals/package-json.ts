/**
 * The package's own package.json fields that the kit reads: its version and
 * `engines`. The build (`npm run build`) writes them into the built module
 * as a literal, so the published package never reads a file for them: an
 * application that bundles the library into one file of its own has some
 * other package.json (often its own) where this module's would be. The
 * sources (run with tsx) read `../../package.json` from this module, the
 * package's root in `src/_internals/`, and use it only if it is this
 * package's.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/** The package's name: a package.json read at run time is used only if it has this `name`. */
export const PACKAGE_NAME = '@stella/backfill-kit';

/** What {@link kitVersion} says when the kit's version cannot be known. */
export const UNKNOWN_KIT_VERSION = 'unknown';

/** The fields of package.json the kit reads. */
export interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly engines?: { readonly node?: string };
}

/**
 * The build replaces this `undefined` with package.json's name, version and
 * engines (see `builtPackageJson` in scripts/build.ts); it stays `undefined`
 * only in the sources.
 */
const builtPackageJson: PackageJson | undefined = undefined;

/**
 * Read when this module is loaded, with the rest of the package's code: a
 * deploy that installs another version over the files of a running process
 * does not change the version that process's code reports (and records in
 * the plans it makes), which it would if read on first use.
 */
const read: PackageJson = builtPackageJson ?? readPackageJson();

function readPackageJson(): PackageJson {
  try {
    const found = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson | null;
    return found?.name === PACKAGE_NAME ? found : {};
  } catch {
    return {};
  }
}

/**
 * The package's package.json fields, as they were when the package's code
 * was loaded: in the built package, those the build wrote into it; in the
 * sources, `../../package.json` if its `name` is the package's. `{}` when
 * neither is there (the CLI then skips its check of the Node.js version
 * against `engines.node`).
 */
export function packageJson(): PackageJson {
  return read;
}

/**
 * The kit's version (package.json's `version`, see {@link packageJson}), as
 * `backfill-kit --version` prints it and a distributed plan records it;
 * {@link UNKNOWN_KIT_VERSION} when it cannot be known. An unknown version
 * never matches a plan's, not even another unknown one.
 */
export function kitVersion(): string {
  return packageJson().version ?? UNKNOWN_KIT_VERSION;
}
