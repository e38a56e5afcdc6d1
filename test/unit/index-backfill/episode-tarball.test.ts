import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { needTools } from '../../support/tmp.js';

const tools = needTools('tar', 'zstd');

describe('buildEpisodeTarball', () => {
  it('is deterministic', async () => {
    const options = { meta: { code_version: { commit: 'a'.repeat(40) } }, files: { 'b.bin': Buffer.alloc(10_000, 3), 'a.txt': 'hello' } };
    const one = (await buildEpisodeTarball(options))._unsafeUnwrap();
    const two = (await buildEpisodeTarball(options))._unsafeUnwrap();
    expect(one.bytes.equals(two.bytes)).toBe(true);
    expect(one.sha256).toBe(two.sha256);
  });

  it.skipIf(tools.missing)(tools.title('writes a .tar.zst that tar lists and extracts (meta.json first, then names sorted)'), async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'backfill-kit-ib-tarball-')), 'host', 'ep.tar.zst');
    const meta = { code_version: { commit: 'b'.repeat(40) }, note: 'é' };
    (await buildEpisodeTarball({ meta, files: { 'z.bin': Buffer.alloc(3, 1), 'a.txt': 'hi' }, path }))._unsafeUnwrap();
    const list = spawnSync('tar', ['--zstd', '-tf', path], { encoding: 'utf8' });
    expect(list.stdout.split('\n').filter(Boolean)).toEqual(['meta.json', 'a.txt', 'z.bin']);
    const extracted = spawnSync('tar', ['--zstd', '-xOf', path, 'meta.json'], { encoding: 'utf8' });
    expect(JSON.parse(extracted.stdout)).toEqual(meta);
    const last = join(path, '..', 'last.tar.zst');
    (await buildEpisodeTarball({ meta, metaLast: true, files: { 'a.txt': 'hi' }, path: last }))._unsafeUnwrap();
    expect(spawnSync('tar', ['--zstd', '-tf', last], { encoding: 'utf8' }).stdout).toBe('a.txt\nmeta.json\n');
    const none = join(path, '..', 'none.tar.zst');
    (await buildEpisodeTarball({ meta: null, files: { 'a.txt': 'hi' }, path: none }))._unsafeUnwrap();
    expect(spawnSync('tar', ['--zstd', '-tf', none], { encoding: 'utf8' }).stdout).toBe('a.txt\n');
  });
});

describe('buildEpisodeTarball mtime', () => {
  it.skipIf(tools.missing)(
    tools.title('writes the last mtime a tar header holds as tar reads it, and refuses what it cannot hold'),
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-ib-mtime-'));
      const meta = { code_version: { commit: 'c'.repeat(40) } };
      // The packer writes whole seconds as a 32-bit signed number.
      const last = new Date((2 ** 31 - 1) * 1000);
      const path = join(dir, 'last.tar.zst');
      (await buildEpisodeTarball({ meta, mtime: last, path }))._unsafeUnwrap();
      const listed = spawnSync('tar', ['--zstd', '--full-time', '-tvf', path], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
      expect(listed.stderr).toBe('');
      expect(listed.stdout).toContain('2038-01-19 03:14:07 meta.json');

      for (const mtime of [
        new Date(2 ** 31 * 1000),
        new Date('3000-01-01T00:00:00Z'),
        new Date('1960-01-01T00:00:00Z'),
        new Date(Number.NaN),
      ]) {
        const built = await buildEpisodeTarball({ meta, mtime, path: join(dir, 'refused.tar.zst') });
        expect(built.isErr() && built.error.code).toBe('INVALID_ARGUMENT');
        expect(built.isErr() && built.error.message).toContain('mtime');
      }
    },
  );
});

describe('buildEpisodeTarball member names', () => {
  it.for([
    ['a file name', { meta: {}, files: { 'frames\0.bin': 'x' } }],
    ['metaName', { meta: {}, metaName: 'meta\0.json' }],
  ] as const)('refuses a NUL in %s, which a tar header cannot hold (it would name another member)', async ([, options]) => {
    const built = await buildEpisodeTarball(options);
    expect(built.isErr() && built.error.code).toBe('INVALID_ARGUMENT');
    expect(built.isErr() && built.error.message).toMatch(/NUL/);
  });
});

describe('buildEpisodeTarball level', () => {
  it.for([Number.NaN, 2.5, 23, 100, -(2 ** 17) - 1, '3'])('refuses %s, which zstd would clamp or read as its default', async (level) => {
    const built = await buildEpisodeTarball({ meta: {}, level: level as number });
    expect(built.isErr() && built.error.code).toBe('INVALID_ARGUMENT');
    expect(built.isErr() && built.error.message).toMatch(/^level /);
  });

  it.for([1, 22, -5])('takes %s', async (level) => {
    expect((await buildEpisodeTarball({ meta: {}, level })).isOk()).toBe(true);
  });
});
