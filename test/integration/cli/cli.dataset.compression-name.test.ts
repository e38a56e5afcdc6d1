/**
 * `dataset build ds.tar.gz` wrote zstd (the default compression) into a file
 * named as gzip, which `tar -xzf` and `gunzip` cannot read. A name ending in
 * a compression's suffix must now match `--compression` (or its default);
 * the mismatch is a usage error and nothing is written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const dir = tempDir('bk-cli-compression-name-');
const GZIP = '1f8b';
const ZSTD = '28b52ffd';

describe.concurrent('dataset build: the file name and --compression agree', () => {
  it.for([
    [
      'ds.tar.gz',
      [],
      /named as a gzip tarball, but it would be written as zstd \(--compression, zstd unless given\).*--compression gzip, or name it \S*-ds\.tar\.zst\./,
    ],
    ['ds.tgz', ['--compression', 'zstd'], /named as a gzip tarball, but it would be written as zstd.*name it \S*-ds\.tar\.zst\./],
    ['plain.tar', [], /named as a plain \(uncompressed\) tar.*--compression none, or name it \S*-plain\.tar\.zst\./],
    ['ds.tar.zst', ['--compression', 'gzip'], /named as a zstd tarball, but it would be written as gzip.*name it \S*-ds\.tar\.gz\./],
    ['ds.tar.zst', ['--compression', 'none'], /written uncompressed.*name it \S*-ds\.tar\./],
  ] as const)('%s %j is a usage error, and nothing is written', async ([name, flags, message], { expect }) => {
    const out = join(dir, `refused-${flags.join('')}-${name}`);
    const r = await cli(['dataset', 'build', out, ...flags, '--linksets', '1', '--chunks', '1', '--json']);
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.sha256`)).toBe(false);
  });

  it.for([
    ['ok.tar.gz', ['--compression', 'gzip'], GZIP],
    ['ok.TGZ', ['--compression', 'gzip'], GZIP],
    ['ok.tar.zst', [], ZSTD],
    ['ok.dataset', [], ZSTD],
  ] as const)('%s %j builds', async ([name, flags, magic], { expect }) => {
    const out = join(dir, `built-${flags.join('')}-${name}`);
    const r = await cli(['dataset', 'build', out, ...flags, '--linksets', '1', '--chunks', '1', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(
      readFileSync(out)
        .subarray(0, magic.length / 2)
        .toString('hex'),
    ).toBe(magic);
  });
});
