import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { needTools, tempDir } from '../../support/tmp.js';

// Packs the package as `npm publish` would (prepack builds it), unpacks the
// tarball into a fresh project's node_modules next to links to its declared
// dependencies only (so an undeclared import fails), and loads every subpath
// from ESM and from CommonJS (`require` of ESM, Node >= 20.19).

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, string | { types?: string; default?: string }>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  bin: Record<string, string>;
};
const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json');
const specifiers = subpaths.map((s) => (s === '.' ? pkg.name : `${pkg.name}/${s.slice(2)}`));
const tarTool = needTools('tar');

const work = tempDir('bk-pack-');
const project = join(work, 'consumer');
const installed = join(project, 'node_modules', ...pkg.name.split('/'));
let files: string[] = [];

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (tarTool.missing) return;
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  files = info!.files.map((f) => f.path);
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(work, info!.filename.replace(/^@[^/]+\//, '').replace('/', '-')), '-C', installed, '--strip-components=1']);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '0.0.0' }));
  for (const dep of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies ?? {})]) {
    const target = join(repoRoot, 'node_modules', dep);
    if (!existsSync(target)) continue;
    const link = join(project, 'node_modules', dep);
    mkdirSync(join(link, '..'), { recursive: true });
    symlinkSync(target, link, 'dir');
  }
}, 300_000);

describe.skipIf(tarTool.missing)(tarTool.title('the packed package'), () => {
  it('ships dist, README, CHANGELOG and the types of every export, and no sources or tests', () => {
    expect(files).toContain('package.json');
    expect(files).toContain('README.md');
    expect(files).toContain('CHANGELOG.md');
    for (const target of Object.values(pkg.exports)) {
      if (typeof target === 'string') continue;
      for (const f of [target.types, target.default]) if (f !== undefined) expect(files, f).toContain(f.replace(/^\.\//, ''));
    }
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  it('every subpath imports from ESM and exports something', () => {
    const script = `
      const names = {};
      for (const s of ${JSON.stringify(specifiers)}) names[s] = Object.keys(await import(s));
      console.log(JSON.stringify(names));`;
    const r = node(['--input-type=module', '-e', script]);
    expect(r.status, r.stderr).toBe(0);
    const names = JSON.parse(r.stdout) as Record<string, string[]>;
    for (const s of specifiers) expect(names[s]?.length, s).toBeGreaterThan(0);
    for (const fn of ['readDataset', 'writeDataset', 'verifyDataset', 'verifyChecksums', 'BackfillError', 'ERROR_CODES']) expect(names[pkg.name]).toContain(fn);
  });

  it('every subpath loads with require() from CommonJS (require of ESM)', () => {
    const script = `
      const out = {};
      for (const s of ${JSON.stringify(specifiers)}) out[s] = Object.keys(require(s)).length;
      const { BackfillError } = require(${JSON.stringify(pkg.name)});
      out.error = new BackfillError('INVALID_ARGUMENT', 'x').code;
      console.log(JSON.stringify(out));`;
    writeFileSync(join(project, 'check.cjs'), script);
    const r = node(['check.cjs']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, number | string>;
    for (const s of specifiers) expect(out[s], s).toBeGreaterThan(0);
    expect(out['error']).toBe('INVALID_ARGUMENT');
  });

  it('the bin runs from the installed package: backfill-kit --help exits 0', () => {
    const bin = join(installed, pkg.bin['backfill-kit']!);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const r = node([bin, '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('dataset import');
    const v = node([bin, '--version']);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version);
  });

  it('the index backfill hashes on its worker thread (compiled hash-thread.js) from the installed package', async () => {
    const root = join(work, 'episodes');
    const tarball = join(root, 'lab-01', 'ep-1.tar.zst');
    (await buildEpisodeTarball({ meta: { code_version: { commit: 'c0ffee00112233445566778899aabbccddeeff00' } }, files: { 'f.bin': Buffer.alloc(5000, 7) }, path: tarball }))._unsafeUnwrap();
    const r = node([join(installed, pkg.bin['backfill-kit']!), 'index', 'backfill', '--episodes-root', root, '--index', join(work, 'index.jsonl')]);
    expect(r.status, r.stderr).toBe(0);
    expect(files).toContain('dist/index-backfill/hash-thread.js');
    const row = JSON.parse(readFileSync(join(work, 'index.jsonl'), 'utf8')) as { sha256: string };
    expect(row.sha256).toBe(createHash('sha256').update(readFileSync(tarball)).digest('hex'));
  });
});
