/**
 * A path or a flag value that says nothing: an unset shell variable (`""`)
 * or a blank one (`" "`, a stray quote). `dataset build " "` wrote a
 * dataset named " " (and " .sha256"); `dataset build ""` and `dataset
 * verify ""` took the current directory for the file (exit 8, not a usage
 * error); `--index " "` read and appended to a file named " ", and
 * `--reject-path " "` emptied one. Each is now a usage error (exit 2)
 * naming the argument or flag, before anything is read or written.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { cli } from './cli-harness.js';

const dir = tempDir('bk-cli-blank-');
writeFileSync(`${dir}/a.txt`, 'a\n');

describe('an empty or blank path or value', () => {
  it.for([
    { args: ['dataset', 'build', ''], names: '<out.tar.zst> is empty' },
    { args: ['dataset', 'build', ' '], names: '<out.tar.zst> is blank (" ")' },
    { args: ['dataset', 'verify', ''], names: '<tarball> is empty' },
    { args: ['dataset', 'verify', '  '], names: '<tarball> is blank ("  ")' },
    { args: ['dataset', 'import', ' ', '--pg', 'postgres://nobody@127.0.0.1:1/none'], names: '<tarball> is blank (" ")' },
    { args: ['checksums', 'write', ' ', 'a.txt'], names: '<SHA256SUMS> is blank (" ")' },
    { args: ['checksums', 'verify', ''], names: '<SHA256SUMS> is empty' },
    { args: ['dataset', 'build', 'ds.tar.zst', '--name', ' '], names: '--name is blank (" ")' },
    { args: ['index', 'backfill', '--episodes-root', '.', '--index', ' '], names: '--index is blank (" ")' },
    { args: ['statements', 'backfill', '--run-id', '\t'], names: '--run-id is blank ("\\t")' },
  ])('$args: exit 2 naming it, nothing written', { timeout: 60_000 }, async ({ args, names }) => {
    const r = await cli(args, { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`error INVALID_ARGUMENT: ${names}`);
    expect(readdirSync(dir)).toEqual(['a.txt']);
  });
});
