/**
 * The package's own package.json, read at run time: `../../package.json`
 * from this module is the package's root both in the sources
 * (`src/_internals/`) and in the built package (`dist/_internals/`).
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/** The fields of package.json the kit reads. */
export interface PackageJson {
  readonly version?: string;
  readonly engines?: { readonly node?: string };
}

/**
 * Read when this module is loaded, with the rest of the package's code: a
 * deploy that installs another version over the files of a running process
 * does not change the version that process's code reports (and records in
 * the plans it makes), which it would if read on first use.
 */
const read: PackageJson = readPackageJson();

function readPackageJson(): PackageJson {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson;
  } catch {
    return {};
  }
}

/** The package's package.json, as it was when the package's code was loaded; `{}` when it could not be read. */
export function packageJson(): PackageJson {
  return read;
}

/** The kit's version (package.json's `version`), as `backfill-kit --version` prints it; `unknown` when it cannot be read. */
export function kitVersion(): string {
  return packageJson().version ?? 'unknown';
}
