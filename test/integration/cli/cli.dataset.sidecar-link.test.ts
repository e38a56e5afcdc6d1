/**
 * `dataset build` renames the tarball into place but wrote `<out>.sha256`
 * with a plain write, which follows a symlink: in a directory others can
 * write to, a link planted at `<out>.sha256` made a build (as root, say)
 * overwrite the file it points to, and a build killed mid-write could
 * leave half a sidecar. It is now written beside and renamed into place.
 */
import { lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needTools, run, tempDir } from '../../support/tmp.js';
import { cli } from './cli-harness.js';

const tools = needTools('sha256sum');
const dir = tempDir('bk-cli-sidecar-');

describe.skipIf(tools.missing)('dataset build: the .sha256 sidecar', () => {
  it(tools.title('replaces a symlink planted at <out>.sha256 instead of writing through it'), async () => {
    const victim = join(dir, 'victim.conf');
    writeFileSync(victim, 'precious\n');
    const out = join(dir, 'ds.tar.zst');
    symlinkSync(victim, `${out}.sha256`);
    const r = await cli(['dataset', 'build', out, '--linksets', '3', '--chunks', '3'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(`${out}.sha256`).isFile()).toBe(true);
    expect(readFileSync(`${out}.sha256`, 'utf8')).toBe(`${run('sha256sum', [out]).slice(0, 64)}  ds.tar.zst\n`);
    expect(run('sha256sum', ['--check', 'ds.tar.zst.sha256'], { cwd: dir })).toBe('ds.tar.zst: OK\n');
    // Nothing else is left beside it.
    expect(run('ls', ['-A', dir]).split('\n').filter(Boolean).sort()).toEqual(['ds.tar.zst', 'ds.tar.zst.sha256', 'victim.conf']);
  });
});

describe.skipIf(tools.missing)('dataset build: a file name with a newline or a backslash', () => {
  it.each([['new\nline.tar.zst'], ['back\\slash.tar.zst']])(
    tools.title('%j: the sidecar and the printed line are in sha256sum format, checked by sha256sum -c'),
    async (name) => {
      const r = await cli(['dataset', 'build', name, '--linksets', '2', '--chunks', '2', '--quiet'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const expected = run('sha256sum', ['--', name], { cwd: dir });
      expect(readFileSync(join(dir, `${name}.sha256`), 'utf8')).toBe(expected);
      expect(run('sha256sum', ['-c', `${name}.sha256`], { cwd: dir })).toContain(': OK');
      expect(r.stdout.split('\n')).toContain(expected.trimEnd());
      const verified = await cli(['dataset', 'verify', name, '--json'], { cwd: dir });
      expect(verified.code, verified.stderr).toBe(0);
      expect(JSON.parse(verified.stdout).report.archive.verdict).toBe('ok');
    },
  );
});
