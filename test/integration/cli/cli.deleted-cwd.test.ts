/**
 * An operator whose shell sits in a directory that was removed since (a
 * release directory replaced by a deploy, a temporary directory cleaned up)
 * runs the CLI there. The current directory then has no path: the CLI must
 * say so, with what to do and a `--json` document when asked, not end in
 * a Node stack trace with exit 1 (which the exit table calls a bug).
 *
 * tsx itself cannot start in such a directory, so the CLI runs here as one
 * file bundled by esbuild, as an application that bundles it does.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run, tempDir } from '../../support/tmp.js';
import { jsonOf, repoRoot, type CliRun } from './cli-harness.js';

const bundle = join(tempDir('bk-cwd-bundle-'), 'backfill-kit.mjs');

beforeAll(() => {
  run(join(repoRoot, 'node_modules', '.bin', 'esbuild'), [
    join(repoRoot, 'src', 'cli', 'main.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    // Syntax the running Node lacks (`await using` before Node 24) is lowered, as an application's bundler does for its Node.
    `--target=node${process.versions.node}`,
    `--outfile=${bundle}`,
    "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    '--log-level=error',
  ]);
}, 120_000);

/** Runs the bundled CLI from a directory that bash enters and then removes. */
function fromRemovedDirectory(args: readonly string[]): CliRun {
  const dir = join(tempDir('bk-cwd-'), 'release');
  mkdirSync(dir);
  const r = spawnSync('bash', ['-c', 'cd "$0" && rmdir "$0" && exec "$@"', dir, process.execPath, bundle, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('backfill-kit run from a current directory that was removed', () => {
  it('is IO_ERROR (exit 8) with a fix line that says to change directory, and no stack trace', () => {
    const r = fromRemovedDirectory(['checksums', 'write', 'a.txt', '--output', 'SHA256SUMS']);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).toMatch(/^error IO_ERROR: .*current directory/m);
    expect(r.stderr).toMatch(/^ {2}fix: +.*\bcd\b/m);
    expect(r.code, r.stderr).toBe(8);
  });

  it('--json prints one document naming the error', () => {
    const r = fromRemovedDirectory(['partitions', 'list', '--table', 'public.t', '--json']);
    const doc = jsonOf(r);
    expect(doc.ok).toBe(false);
    expect(doc.exitCode).toBe(8);
    expect(doc.error?.code).toBe('IO_ERROR');
    expect(doc.error?.fix).toMatch(/\bcd\b/);
    expect(r.code, r.stderr).toBe(8);
  });
});
