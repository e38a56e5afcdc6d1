/**
 * What the CLI prints about a bad command line names what the operator
 * typed (`--level`, `--repo`, `-h`), never a library option (`level`,
 * `repoPath`, `git`) nor the argument parser's own wording.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needTools, run, tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const dir = tempDir('bk-cli-flag-names-');

// Each test starts its own CLIs and writes only files of its own: the tests of a block run at once.

describe.concurrent('errors name the flag typed', () => {
  it.each([
    [['--level', '0'], /--level .*1 to 22.*zstd/],
    [['--compression', 'gzip', '--level', '12'], /--level .*0 to 9.*gzip/],
    [['--compression', 'none', '--level', '5'], /--level .*--compression none/],
  ])('dataset build %j is a usage error naming --level', async (flags, message) => {
    const out = join(dir, 'level.tar.zst');
    const r = await cli(['dataset', 'build', out, ...flags, '--json']);
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toMatch(message);
  });

  it('an in-range --level still builds', async () => {
    const r = await cli([
      'dataset',
      'build',
      join(dir, 'ok.tar.gz'),
      '--compression',
      'gzip',
      '--level',
      '0',
      '--linksets',
      '2',
      '--chunks',
      '2',
    ]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe.concurrent('short flags written with a value', () => {
  it('-h=true shows the help (exit 0) and -h=false runs the command', async () => {
    const help = await cli(['dataset', 'verify', '-h=true']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: backfill-kit dataset verify');
    const off = await cli(['dataset', 'verify', join(dir, 'missing.tar.zst'), '-h=false']);
    expect(off.code).toBe(8);
  });

  it('-h=yes is the CLI usage error saying what to write, not the parser raw error', async () => {
    const r = await cli(['dataset', 'verify', '-h=yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --help is on or off: .*not "-h=yes"/m);
    expect(r.stderr).not.toContain("'-='");
  });

  it('an unknown short flag or a missing value is worded by the CLI', async () => {
    const unknown = await cli(['dataset', 'verify', 'x.tar.zst', '-x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error INVALID_ARGUMENT: unknown flag -x /m);
    const missing = await cli(['dataset', 'verify', 'x.tar.zst', '--expected-sha256']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error INVALID_ARGUMENT: --expected-sha256 needs a value /m);
    expect(missing.stderr).not.toContain('argument missing');
  });

  it('a value that starts with a dash is worded by the CLI on one line, saying how to write one', async () => {
    for (const [flag, value] of [
      ['--batch-size', '-1'],
      ['--run-id', '-h'],
    ]) {
      const r = await cli(['statements', 'backfill', flag as string, value as string]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^error INVALID_ARGUMENT: ${flag} needs a value: .*written ${flag}=-`, 'm'));
      expect(r.stderr).not.toContain('\\u000a');
    }
  });
});

describe.concurrent('flags written with a dash look-alike', () => {
  it.each([
    ['en dash', '\u2013json'],
    ['em dash', '\u2014json'],
    ['two en dashes', '\u2013\u2013json'],
  ])('an %s before a flag name is refused naming the flag meant, not taken as a file', async (_, word) => {
    const r = await cli(['dataset', 'verify', word, join(dir, 'missing.tar.zst')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: .*not a hyphen.*Did you mean --json\?/m);
  });

  it('dataset build with an en-dash flag writes no file named after it', async () => {
    const r = await cli(['dataset', 'build', '\u2013linksets'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--linksets');
  });

  it('after -- such a word is an ordinary argument', async () => {
    const r = await cli(['dataset', 'verify', '--', '\u2013json']);
    expect(r.code).toBe(8);
  });
});

const gitTool = needTools('git');

describe.skipIf(gitTool.missing)(gitTool.title('gate check names its flags'), () => {
  const repo = join(dir, 'repo');
  mkdirSync(repo, { recursive: true });
  run('git', ['-C', repo, 'init', '-q']);
  run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'one']);
  const commit = 'a'.repeat(40);

  it('an unreadable --repo logs nothing naming repoPath (without --quiet)', async () => {
    const r = await cli(['gate', 'check', commit, '--repo', join(dir, 'nowhere')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --repo /m);
    expect(r.stderr).not.toContain('repoPath');
    expect(r.stderr).not.toContain('uploads get 503');
  });

  it('git missing from PATH is said as such, without the library `git` option', async () => {
    const r = await cli(['gate', 'check', commit, '--repo', repo], { env: { PATH: join(dir, 'no-bin') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/git.*not found/);
    expect(r.stderr).not.toContain('`git` option');
    expect(r.stderr).not.toContain('repoPath');
  });

  it.each([[' '], ['a\u0001b']])('--remediation %j is refused naming --remediation', async (line) => {
    const r = await cli(['gate', 'check', commit, '--repo', repo, '--remediation', line]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --remediation /m);
    expect(r.stderr).not.toContain('`remediation`');
  });
});

describe.concurrent('help asked for before the command', () => {
  it.each([['-h=true'], ['--help=true'], ['dataset', '-h=true']])('%s shows help, exit 0', async (...args) => {
    const r = await cli(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: backfill-kit /);
  });

  it('-h=yes before the command says what to write', async () => {
    const r = await cli(['-h=yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --help is on or off: /m);
  });
});

describe.concurrent('number flags checked against the library bounds name the flag', () => {
  const env = { PGURI: process.env.BACKFILL_KIT_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' };

  it.each([
    [['partitions', 'ensure', '--lock-timeout-ms', '99999999999'], /--lock-timeout-ms must be an integer from 1 to 2147483647/],
    [['dataset', 'rollback', '--dry-run', '--lock-timeout-ms', '99999999999'], /--lock-timeout-ms must be an integer from 1 to 2147483647/],
    [['partitions', 'ensure', '--ahead', '999999'], /--ahead must be an integer from 0 to 100000/],
    [['partitions', 'ensure', '999999'], /the count .*from 0 to 100000/],
    [['partitions', 'retention', '--keep', '999999'], /--keep must be an integer from 0 to 100000/],
    [['partitions', 'ensure', '--behind', '999999'], /--behind must be an integer from 0 to 100000/],
  ])('%j', async (args, message) => {
    const r = await cli([...args, '--json'], { env });
    expect(r.code, r.stderr).toBe(2);
    expect(jsonOf(r).error?.message).toMatch(message);
  });

  it('a missing partitioned table names --table, not a library option', async () => {
    const r = await cli(['partitions', 'list', '--table', 'no_such_schema.no_such_table', '--json'], { env });
    expect(r.code).toBe(6);
    expect(jsonOf(r).error?.message).not.toContain('createParent');
    expect(jsonOf(r).error?.message).toContain('--table');
  });
});

describe.skipIf(gitTool.missing)(gitTool.title('gate check with an empty commit'), () => {
  it('an empty <commit> (a failed `$(git rev-parse HEAD)`) is a usage error (exit 2), not a refusal (exit 7)', async () => {
    const r = await cli(['gate', 'check', '', '--repo', '.', '--json']);
    expect(r.code).toBe(2);
    expect(jsonOf(r).error?.message).toMatch(/<commit> is empty/);
  });
});
