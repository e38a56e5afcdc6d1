import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { needTools, tempDir } from '../../support/tmp.js';
import { packedPackage, pkg, type Packed } from './packed.js';

// `npm install` of the packed tarball as an offline-kit user runs it: on a
// PATH that holds node and sh and nothing else (no cc, gcc, g++, make or
// python), so an install script that compiles a native addon fails. Then the
// installed package reads a .tar.zst that GNU tar and zstd made.

const tools = needTools('tar', 'zstd', 'npm');
const work = tempDir('bk-install-');
const project = join(work, 'project');
const bin = join(work, 'bin');
let packed: Packed;

function npmCli(): string {
  return realpathSync(execFileSync('bash', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
}

/** Runs with PATH = only node and sh; the rest of the environment (registry certificates, proxy) stays, less npm's own variables. */
function bare(args: string[], cwd: string): { status: number | null; out: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 280_000, env: { ...env, PATH: bin } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Installed packages that build something at install time: a binding.gyp, or an install script. */
function buildsAtInstall(modules: string[]): string[] {
  const found: string[] = [];
  for (const f of modules) {
    if (f.endsWith('binding.gyp')) found.push(f);
    if (!f.endsWith('package.json') || f.includes('/test/')) continue;
    const scripts =
      (JSON.parse(readFileSync(join(project, 'node_modules', f), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
    for (const hook of ['preinstall', 'install', 'postinstall']) if (scripts[hook] !== undefined) found.push(`${f}: ${hook}`);
  }
  return found;
}

beforeAll(async () => {
  if (tools.missing) return;
  packed = await packedPackage();
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(realpathSync('/bin/sh'), join(bin, 'sh'));
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'offline-kit', private: true, version: '0.0.0', type: 'module' }));
}, 300_000);

describe.skipIf(tools.missing)(tools.title('npm install of the packed tarball with no compiler on PATH'), () => {
  it('installs with PATH holding only node and sh; no installed package compiles or runs an install script', () => {
    for (const compiler of ['cc', 'gcc', 'g++', 'make', 'python3', 'python'])
      expect(bare(['-e', `require('child_process').execFileSync(${JSON.stringify(compiler)})`], work).status, compiler).not.toBe(0);
    const r = bare([npmCli(), 'install', '--no-audit', '--no-fund', '--prefer-offline', packed.tarball], project);
    expect(r.status, r.out).toBe(0);
    const modules = join(project, 'node_modules');
    expect(buildsAtInstall(readdirSync(modules, { recursive: true, encoding: 'utf8' }))).toEqual([]);
    expect(readdirSync(join(modules, ...pkg.name.split('/')))).toContain('dist');
  }, 300_000);

  it('the installed package reads a .tar.zst made by GNU tar and zstd', () => {
    const src = join(work, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'a.ndjson'), `${Array.from({ length: 1000 }, (_, i) => JSON.stringify({ _id: `a${i}` })).join('\n')}\n`);
    writeFileSync(
      join(src, 'manifest.json'),
      JSON.stringify({ schemaVersion: 1, name: 'a', members: [{ name: 'a.ndjson', records: 1000 }] }),
    );
    execFileSync('bash', ['-c', 'tar -cf - manifest.json a.ndjson | zstd -q -o ../a.tar.zst'], { cwd: src });
    const script = `
      import { readDataset } from '${pkg.name}/dataset';
      const scanned = await readDataset(process.argv[1]).scan();
      if (scanned.isErr()) throw scanned.error;
      console.log(JSON.stringify({ version: process.version, members: scanned.value.stats.members.map((m) => [m.name, m.records]) }));`;
    const r = bare(['--input-type=module', '-e', script, join(work, 'a.tar.zst')], project);
    expect(r.status, r.out).toBe(0);
    const out = JSON.parse(r.out) as { version: string; members: [string, number | null][] };
    expect(out.version).toBe(process.version);
    expect(out.members).toEqual([
      ['manifest.json', null],
      ['a.ndjson', 1000],
    ]);
  }, 120_000);
});
