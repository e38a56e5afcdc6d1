import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

// The package test files share one `npm pack` per test run (in the run's
// scratch folder from the global setup): the first to arrive packs while the
// others wait for its answer.

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface PackageJson {
  name: string;
  version: string;
  exports: Record<string, string | Record<string, { types: string; default: string }>>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  bin: Record<string, string>;
}

export const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as PackageJson;

/** What a user imports: the package name, and `<name>/<subpath>` for every other subpath of its exports map. */
export const specifiers = Object.keys(pkg.exports)
  .filter((k) => k !== './package.json')
  .map((s) => (s === '.' ? pkg.name : `${pkg.name}/${s.slice(2)}`));

/** A file left in dist/ before packing: a clean build must not ship it. */
export const STALE_DIST_FILE = 'dist/stale-from-an-old-build.js';

export interface Packed {
  /** The `.tgz` that `npm pack` wrote. */
  readonly tarball: string;
  /** Paths inside the package, as `npm pack --json` lists them. */
  readonly files: string[];
}

function pack(dir: string): Packed {
  mkdirSync(join(repoRoot, 'dist'), { recursive: true });
  writeFileSync(join(repoRoot, STALE_DIST_FILE), 'export {};\n');
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  return { tarball: join(dir, info!.filename.replace(/^@/, '').replace('/', '-')), files: info!.files.map((f) => f.path) };
}

/** Packs the package as `npm publish` would (prepack builds it), once per test run. */
export async function packedPackage(): Promise<Packed> {
  const dir = join(inject('runScratch'), 'pack');
  const answer = join(dir, 'packed.json');
  const failure = join(dir, 'failed.txt');
  try {
    mkdirSync(dir);
  } catch {
    for (let waited = 0; waited < 600; waited += 1) {
      if (existsSync(answer)) return JSON.parse(readFileSync(answer, 'utf8')) as Packed;
      if (existsSync(failure)) throw new Error(`npm pack failed in another test file: ${readFileSync(failure, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error('npm pack did not finish within 5 minutes');
  }
  try {
    const packed = pack(dir);
    writeFileSync(answer, JSON.stringify(packed));
    return packed;
  } catch (error) {
    writeFileSync(failure, String((error as { stderr?: string }).stderr ?? error));
    throw error;
  }
}

/**
 * A consumer project in `dir`: the packed package unpacked into its
 * node_modules, next to links to the package's declared dependencies only (so
 * an undeclared import fails) and to the `tools` named (typescript, tsx, …).
 */
export function consumerProject(dir: string, packed: Packed, options: { type: 'module' | 'commonjs'; tools?: string[] }): string {
  const installed = join(dir, 'node_modules', ...pkg.name.split('/'));
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', packed.tarball, '-C', installed, '--strip-components=1']);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '0.0.0', type: options.type }));
  for (const dep of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies ?? {}), ...(options.tools ?? [])]) {
    const target = join(repoRoot, 'node_modules', dep);
    if (!existsSync(target)) continue;
    const link = join(dir, 'node_modules', dep);
    mkdirSync(join(link, '..'), { recursive: true });
    symlinkSync(target, link, 'dir');
  }
  return installed;
}

/** Runs this Node (the test runner's) in `cwd` with only PATH, HOME and `env`. */
export function runNode(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, {
    cwd,
    encoding: 'utf8',
    timeout: 180_000,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `tsc` of the consumer's `tsconfig.json`: the project's TypeScript, linked
 * into it, or with `compiler: 'typescript-7'` the native TypeScript 7 compiler
 * the project also installs, as a user who has moved to it runs it.
 */
export function typecheck(
  cwd: string,
  extraArgs: string[] = [],
  compiler: 'typescript' | 'typescript-7' = 'typescript',
): { status: number | null; output: string } {
  const tsc =
    compiler === 'typescript'
      ? join(cwd, 'node_modules', 'typescript', 'bin', 'tsc')
      : join(repoRoot, 'node_modules', compiler, 'bin', 'tsc');
  const r = runNode(cwd, [tsc, '-p', '.', '--noEmit', ...extraArgs]);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
