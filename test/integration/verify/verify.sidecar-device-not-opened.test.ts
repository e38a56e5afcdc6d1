/**
 * A checksum file that is a device (a `<tarball>.sha256` or `SHA256SUMS`
 * symlink to one, found beside a dataset; a sums file, `--key` or
 * `--signature` named as one) was refused only after it had been opened:
 * its type was taken from the open descriptor. Opening a device may itself
 * do something (a watchdog starts counting, a tape rewinds), so such a
 * file is now refused on a `stat` of its name, before any open, as the
 * files `checksums verify` hashes already were. strace shows which files
 * the command opened.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { repoRoot } from '../cli/cli-harness.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('strace');
const dir = tempDir('bk-device-not-opened-');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const main = join(repoRoot, 'src/cli/main.ts');

/** Runs the CLI under strace; its exit status and every path it opened. */
function traced(args: readonly string[], log: string): { status: number | null; stderr: string; opened: string[] } {
  const run = spawnSync(
    'strace',
    ['-f', '-qq', '-e', 'trace=open,openat', '-o', log, process.execPath, '--import', tsxLoader, main, ...args],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    },
  );
  const opened = readFileSync(log, 'utf8')
    .split('\n')
    .flatMap((line) => /open(?:at)?\([^"]*"([^"]*)"/.exec(line)?.[1] ?? []);
  return { status: run.status, stderr: run.stderr, opened };
}

describe.skipIf(tools.missing)('a checksum file that is a device is refused before it is opened', () => {
  it.for([
    ['dataset verify', 'ds.tar.zst.sha256'],
    ['dataset verify', 'SHA256SUMS'],
    ['checksums verify', 'SUMS'],
    ['checksums verify --key', 'cosign.pub'],
  ] as const)(tools.title('%s with %s a symlink to /dev/null'), async ([command, file], ctx) => {
    const d = join(dir, `${command.replace(/\W+/g, '-')}-${file}`);
    const path = join(d, 'ds.tar.zst');
    (await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] }, sha256File: false }))._unsafeUnwrap();
    symlinkSync('/dev/null', join(d, file));
    const args =
      command === 'dataset verify'
        ? ['dataset', 'verify', path]
        : command === 'checksums verify'
          ? ['checksums', 'verify', join(d, file)]
          : ['checksums', 'verify', path, '--signature', path, '--key', join(d, file)];
    const run = traced(args, join(d, 'strace.log'));
    if (run.opened.length === 0) return ctx.skip('skipped: strace could not trace the command here');
    expect(run.stderr).toContain('IO_ERROR');
    expect(run.status).toBe(8);
    expect(run.opened).not.toContain(join(d, file));
  });
});
