import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { needTools, run, tempDir } from '../../support/tmp.js';
import { consumerProject, packedPackage, pkg, repoRoot, runNode } from './packed.js';

// An application that bundles the library into one file of its own (esbuild here; webpack and rollup alike): the
// library's code then runs from the application's file, where `../../package.json` is some other package's (here the
// application's own). The kit's version and engines must still be the kit's.

const tarTool = needTools('tar');

const app = join(tempDir('bk-bundle-'), 'some-app');
const appManifest = (more: object = {}): string =>
  JSON.stringify({ name: 'some-app', version: '9.9.9', private: true, type: 'module', ...more });

beforeAll(async () => {
  if (tarTool.missing) return;
  const installed = consumerProject(app, await packedPackage(), { type: 'module' });
  writeFileSync(join(app, 'package.json'), appManifest());
  run(join(repoRoot, 'node_modules', '.bin', 'esbuild'), [
    join(installed, pkg.bin['backfill-kit']!),
    '--bundle',
    '--platform=node',
    '--format=esm',
    `--outfile=${join(app, 'dist', 'bin', 'app.mjs')}`,
    "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    '--log-level=error',
  ]);
}, 300_000);

describe.skipIf(tarTool.missing)(tarTool.title('the CLI bundled into an application with a package.json of its own'), () => {
  it("prints the kit's version, not the application's", () => {
    const r = runNode(app, [join(app, 'dist', 'bin', 'app.mjs'), '--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${pkg.version}\n`);
    expect(r.status).toBe(0);
  });

  it("checks Node.js against the kit's engines, not the application's", () => {
    // An engines.node that no Node.js meets: the CLI would refuse to run if it took it for the kit's.
    writeFileSync(join(app, 'package.json'), appManifest({ engines: { node: '>=99.0' } }));
    const r = runNode(app, [join(app, 'dist', 'bin', 'app.mjs'), '--help']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('dataset import');
    expect(r.status).toBe(0);
  });
});
