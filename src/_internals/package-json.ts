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

let read: PackageJson | undefined;

/** The package's package.json, read once; `{}` when it cannot be read. */
export function packageJson(): PackageJson {
  if (read === undefined) {
    try {
      read = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson;
    } catch {
      read = {};
    }
  }
  return read;
}

/** The kit's version (package.json's `version`), as `backfill-kit --version` prints it; `unknown` when it cannot be read. */
export function kitVersion(): string {
  return packageJson().version ?? 'unknown';
}
