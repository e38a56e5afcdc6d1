import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { BUILT_PACKAGE_JSON_PLACEHOLDER, builtPackageJson } from '../../../scripts/build.js';
import { kitVersion, PACKAGE_NAME, packageJson, UNKNOWN_KIT_VERSION } from '../../../src/_internals/package-json.js';
import { plannedByOtherKitVersion } from '../../../src/statements/distributed-plan.js';
import { tempDir } from '../../support/tmp.js';

const source = fileURLToPath(new URL('../../../src/_internals/package-json.ts', import.meta.url));

/** A package.json of `version`, as an install of that version leaves it. */
const manifest = (version: string, name = '@stella/backfill-kit'): string =>
  JSON.stringify({ name, version, type: 'module', engines: { node: '>=99.0' } });

const repoPackageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
  engines: { node: string };
};

/** A copy of the sources' package-json.ts under `root`/src/_internals, next to `root`/package.json of `contents`. */
function sourcesUnder(contents: string): string {
  const root = tempDir();
  mkdirSync(join(root, 'src', '_internals'), { recursive: true });
  copyFileSync(source, join(root, 'src', '_internals', 'package-json.ts'));
  writeFileSync(join(root, 'package.json'), contents);
  return pathToFileURL(join(root, 'src', '_internals', 'package-json.ts')).href;
}

describe('kitVersion', () => {
  // A worker process started before a deploy installed another version over its files runs the old code: plans it
  // makes and runs it works must carry that code's version, or the check that keeps versions apart lets them mix.
  it('is the version of the package whose code the process loaded, not of one installed over it afterwards', async () => {
    const url = sourcesUnder(manifest('1.0.0'));
    const root = join(fileURLToPath(url), '..', '..', '..');
    const script = `const { kitVersion } = await import(${JSON.stringify(url)});
      process.stdout.write('loaded\\n');
      process.stdin.once('data', () => { process.stdout.write(kitVersion() + '\\n'); process.exit(0); });`;
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('loaded\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before loading: ${err}`)));
    });
    writeFileSync(join(root, 'package.json'), manifest('2.0.0'));
    child.stdin.write('go\n');
    expect(await exited, err).toBe(0);
    expect(out).toBe('loaded\n1.0.0\n');
  });

  it("is this package's version in the sources, as in package.json", () => {
    expect(PACKAGE_NAME).toBe(repoPackageJson.name);
    expect(kitVersion()).toBe(repoPackageJson.version);
    expect(packageJson().engines?.node).toBe(repoPackageJson.engines.node);
  });

  // The sources read ../../package.json from their module: a package.json of another package there (the sources
  // copied into an application, say) is not the kit's, and its version and engines are not used.
  it("is unknown, with no engines, when the package.json next to the sources is another package's", () => {
    const url = sourcesUnder(manifest('9.9.9', 'some-app'));
    const script = `const { kitVersion, packageJson } = await import(${JSON.stringify(url)});
      process.stdout.write(JSON.stringify({ version: kitVersion(), pkg: packageJson() }));`;
    const r = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: UNKNOWN_KIT_VERSION, pkg: {} });
  });
});

describe('builtPackageJson (the build)', () => {
  it("writes package.json's name, version and engines over the compiled placeholder, and nothing else of it", () => {
    const compiled = `const a = 1;\n${BUILT_PACKAGE_JSON_PLACEHOLDER}\nconst b = 2;\n`;
    const built = builtPackageJson(compiled, { ...repoPackageJson, scripts: { x: 'y' } } as typeof repoPackageJson);
    expect(built).toBe(
      `const a = 1;\nconst builtPackageJson = ${JSON.stringify({ name: repoPackageJson.name, version: repoPackageJson.version, engines: repoPackageJson.engines })};\nconst b = 2;\n`,
    );
  });

  it('fails the build when the compiled module does not have the placeholder exactly once', () => {
    expect(() => builtPackageJson('const builtPackageJson = void 0;', repoPackageJson)).toThrow(/found it 0 times/);
    expect(() => builtPackageJson(BUILT_PACKAGE_JSON_PLACEHOLDER.repeat(2), repoPackageJson)).toThrow(/found it 2 times/);
    expect(() => builtPackageJson(BUILT_PACKAGE_JSON_PLACEHOLDER, { name: 'x' })).toThrow(/no version/);
  });

  it('has the placeholder that TypeScript makes of the sources, once', () => {
    const { outputText } = ts.transpileModule(readFileSync(source, 'utf8'), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    });
    expect(outputText.split(BUILT_PACKAGE_JSON_PLACEHOLDER).length).toBe(2);
  });
});

describe('plannedByOtherKitVersion', () => {
  it('takes an unknown version, on either side, for another one', () => {
    expect(plannedByOtherKitVersion({ kitVersion: '1.0.0' }, '1.0.0')).toBe(false);
    expect(plannedByOtherKitVersion({ kitVersion: null }, UNKNOWN_KIT_VERSION)).toBe(false);
    expect(plannedByOtherKitVersion({ kitVersion: '1.0.0' }, '1.0.1')).toBe(true);
    expect(plannedByOtherKitVersion({ kitVersion: '1.0.0' }, UNKNOWN_KIT_VERSION)).toBe(true);
    expect(plannedByOtherKitVersion({ kitVersion: UNKNOWN_KIT_VERSION }, '1.0.0')).toBe(true);
    expect(plannedByOtherKitVersion({ kitVersion: UNKNOWN_KIT_VERSION }, UNKNOWN_KIT_VERSION)).toBe(true);
  });
});
