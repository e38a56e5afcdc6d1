import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { needTools, tempDir } from '../../support/tmp.js';
import { STALE_DIST_FILE, consumerProject, packedPackage, pkg, runNode, specifiers, type Packed } from './packed.js';

// The package as `npm publish` would ship it, unpacked into a fresh project
// next to its declared dependencies only, loaded from ESM and CommonJS
// (package.attw.test.ts checks its types with @arethetypeswrong/cli).

const tarTool = needTools('tar');

const project = join(tempDir('bk-pack-'), 'consumer');
let packed: Packed;
let installed = '';

beforeAll(async () => {
  if (tarTool.missing) return;
  packed = await packedPackage();
  installed = consumerProject(project, packed, { type: 'commonjs' });
}, 300_000);

describe.skipIf(tarTool.missing)(tarTool.title('the packed package'), () => {
  it('ships dist, the sources its maps point to, README, CHANGELOG and the types of every export, and no tests', () => {
    expect(packed.files).toContain('package.json');
    expect(packed.files).toContain('README.md');
    expect(packed.files).toContain('CHANGELOG.md');
    for (const target of Object.values(pkg.exports)) {
      if (typeof target === 'string') continue;
      for (const branch of Object.values(target))
        for (const f of [branch.types, branch.default]) expect(packed.files, f).toContain(f.replace(/^\.\//, ''));
    }
    expect(packed.files.filter((f) => f.startsWith('test/') || f.endsWith('.tsbuildinfo'))).toEqual([]);
  });

  it('packs from a clean dist/: a file left by an older build is not shipped', () => {
    expect(packed.files).not.toContain(STALE_DIST_FILE);
    expect(packed.files.filter((f) => f.startsWith('dist/')).length).toBeGreaterThan(100);
  });

  it('every source map names only sources that are in the package', () => {
    const maps = packed.files.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(100);
    const shipped = new Set(packed.files);
    const dangling: string[] = [];
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(join(installed, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: string[];
      };
      sources.forEach((source, i) => {
        const inPackage = join('/', map, '..', source).slice(1);
        if (!shipped.has(inPackage) && typeof sourcesContent?.[i] !== 'string') dangling.push(`${map} -> ${source}`);
      });
    }
    expect(dangling).toEqual([]);
  });

  it('every subpath imports from ESM and exports something', () => {
    const script = `
      const names = {};
      for (const s of ${JSON.stringify(specifiers)}) names[s] = Object.keys(await import(s));
      console.log(JSON.stringify(names));`;
    const r = runNode(project, ['--input-type=module', '-e', script]);
    expect(r.status, r.stderr).toBe(0);
    const names = JSON.parse(r.stdout) as Record<string, string[]>;
    for (const s of specifiers) expect(names[s]?.length, s).toBeGreaterThan(0);
    for (const fn of ['readDataset', 'writeDataset', 'verifyDataset', 'verifyChecksums', 'BackfillError', 'ERROR_CODES'])
      expect(names[pkg.name]).toContain(fn);
  });

  it('every subpath loads with require() from CommonJS, as the same module ESM gets (one BackfillError class)', async () => {
    const script = `
      const out = {};
      for (const s of ${JSON.stringify(specifiers)}) out[s] = Object.keys(require(s)).length;
      const { BackfillError } = require(${JSON.stringify(pkg.name)});
      out.error = new BackfillError('INVALID_ARGUMENT', 'x').code;
      import(${JSON.stringify(pkg.name)}).then((esm) => {
        out.sameClass = esm.BackfillError === BackfillError;
        out.sameReader = esm.readDataset === require(${JSON.stringify(`${pkg.name}/dataset`)}).readDataset;
        console.log(JSON.stringify(out));
      });`;
    writeFileSync(join(project, 'check.cjs'), script);
    const r = runNode(project, ['check.cjs']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // no ExperimentalWarning for require() of ESM
    const out = JSON.parse(r.stdout) as Record<string, number | string | boolean>;
    for (const s of specifiers) expect(out[s], s).toBeGreaterThan(0);
    expect(out).toMatchObject({ error: 'INVALID_ARGUMENT', sameClass: true, sameReader: true });
  });

  it('the bin runs from the installed package: backfill-kit --help exits 0', () => {
    const bin = join(installed, pkg.bin['backfill-kit']!);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const r = runNode(project, [bin, '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('dataset import');
    const v = runNode(project, [bin, '--version']);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version);
  });

  it('the index backfill hashes on its worker thread (compiled hash-thread.js) from the installed package', async () => {
    const root = join(project, 'episodes');
    const tarball = join(root, 'lab-01', 'ep-1.tar.zst');
    (
      await buildEpisodeTarball({
        meta: { code_version: { commit: 'c0ffee00112233445566778899aabbccddeeff00' } },
        files: { 'f.bin': Buffer.alloc(5000, 7) },
        path: tarball,
      })
    )._unsafeUnwrap();
    const r = runNode(project, [
      join(installed, pkg.bin['backfill-kit']!),
      'index',
      'backfill',
      '--episodes-root',
      root,
      '--index',
      join(project, 'index.jsonl'),
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(packed.files).toContain('dist/index-backfill/hash-thread.js');
    const row = JSON.parse(readFileSync(join(project, 'index.jsonl'), 'utf8')) as { sha256: string };
    expect(row.sha256).toBe(createHash('sha256').update(readFileSync(tarball)).digest('hex'));
  });
});
