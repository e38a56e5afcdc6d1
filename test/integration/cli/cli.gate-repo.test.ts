/**
 * `gate check` against a `--repo` it cannot read is a configuration
 * problem (exit 2), not a refused commit (exit 7): a script that runs the
 * remediation on 7 must not pull on a host whose only fault is the path.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needTools, run, tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const gitTool = needTools('git');
const commit = 'a'.repeat(40);

describe.skipIf(gitTool.missing)(gitTool.title('backfill-kit gate check with an unusable --repo'), () => {
  const dir = tempDir('bk-cli-gate-repo-');
  const plain = join(dir, 'plain');
  const empty = join(dir, 'empty');
  mkdirSync(plain, { recursive: true });
  mkdirSync(empty, { recursive: true });
  run('git', ['-C', empty, 'init', '-q']);

  it.each([
    ['a directory that is not a repository', plain],
    ['a path that does not exist', join(dir, 'missing')],
    ['a repository without commits', empty],
  ])('%s is a usage error (exit 2) naming --repo, as JSON and as text', async (_, repo) => {
    const json = await cli(['gate', 'check', commit, '--repo', repo, '--json']);
    expect(json.code).toBe(2);
    const doc = jsonOf(json);
    expect(doc.exitCode).toBe(2);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toContain(`--repo ${repo} gave no commits to check against: git log in ${repo} failed`);
    expect(doc.error?.message).toContain('Give --repo the top directory of a git clone');
    expect(doc.report).toBeNull();
    const text = await cli(['gate', 'check', commit, '--repo', repo, '--quiet']);
    expect(text.code).toBe(2);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/^error INVALID_ARGUMENT: --repo /);
    expect(text.stderr).not.toContain('repoPath');
  });
});

describe.skipIf(gitTool.missing)(gitTool.title('backfill-kit gate check with a shallow --repo'), () => {
  const dir = tempDir('bk-cli-gate-shallow-');
  const source = join(dir, 'source');
  const shallow = join(dir, 'shallow');
  mkdirSync(source, { recursive: true });
  run('git', ['-C', source, 'init', '-q']);
  for (const n of [1, 2, 3, 4, 5])
    run('git', ['-C', source, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', `c${n}`]);
  run('git', ['clone', '-q', '--depth', '1', `file://${source}`, shallow]);
  const head = run('git', ['-C', source, 'rev-parse', 'HEAD']).trim();
  const twoBehind = run('git', ['-C', source, 'rev-parse', 'HEAD~2']).trim();

  it('a commit the shallow clone cannot see is a usage error (exit 2) saying to deepen it, not a refusal (exit 7)', async () => {
    const r = await cli(['gate', 'check', twoBehind, '--repo', shallow, '--json']);
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toContain(`--repo ${shallow} is a shallow clone`);
    expect(doc.error?.message).toContain('fetch --unshallow');
  });

  it('says so once: the shallow-clone warning of the gate is not printed beside the error', async () => {
    const r = await cli(['gate', 'check', twoBehind, '--repo', shallow]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('shallow clone').length - 1, r.stderr).toBe(1);
    expect(r.stderr.split('fetch --unshallow').length - 1, r.stderr).toBe(1);
  });

  it('a commit it accepts still comes with the warning that older recent commits would be refused', async () => {
    const r = await cli(['gate', 'check', head, '--repo', shallow]);
    expect(r.code).toBe(0);
    expect(r.stderr.split('shallow clone').length - 1, r.stderr).toBe(1);
  });

  it('its head is still accepted, and the full clone accepts the older commit', async () => {
    expect((await cli(['gate', 'check', head, '--repo', shallow])).code).toBe(0);
    expect((await cli(['gate', 'check', twoBehind, '--repo', source])).code).toBe(0);
  });

  it('an unknown commit against a short but complete history is still refused (exit 7)', async () => {
    expect((await cli(['gate', 'check', commit, '--repo', source])).code).toBe(7);
  });
});
