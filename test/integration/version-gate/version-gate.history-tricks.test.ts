/**
 * The gate accepts the newest commits of `repoPath`'s own history, as the
 * commit objects record it: git's history rewriting at read time (replace
 * refs, a grafts file), a repository found above `repoPath`, and `GIT_DIR`
 * inherited from the environment must not widen what is accepted. Real
 * repositories; `git rev-list` without those rewrites is the oracle.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VersionGate } from '../../../src/version-gate/index.js';
import { createRepo, REMEDIATION, removeScratchDirs } from './git-fixture.js';

afterAll(removeScratchDirs);

const IDENTITY = {
  GIT_AUTHOR_NAME: 'T',
  GIT_AUTHOR_EMAIL: 't@example.invalid',
  GIT_COMMITTER_NAME: 'T',
  GIT_COMMITTER_EMAIL: 't@example.invalid',
};

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...IDENTITY },
    stdio: ['pipe', 'pipe', 'pipe'],
  }).trim();
}

/** The real history of HEAD, with replace refs and grafts switched off. */
function trueHistory(dir: string): string[] {
  return execFileSync('git', ['--no-replace-objects', '-C', dir, 'rev-list', 'HEAD'], {
    encoding: 'utf8',
    env: { ...process.env, GIT_GRAFT_FILE: join(dir, 'no-such-grafts-file') },
  })
    .trim()
    .split('\n');
}

/** A 5-commit main line plus a side commit (never merged) made from main~3. */
function repoWithSideCommit(): { dir: string; main: string[]; side: string } {
  const repo = createRepo(5);
  const side = git(repo.dir, 'commit-tree', 'HEAD~3^{tree}', '-p', 'HEAD~3', '-m', 'side commit, never merged');
  git(repo.dir, 'update-ref', 'refs/heads/side', side);
  return { dir: repo.dir, main: repo.commits(), side };
}

async function verdictFor(repoPath: string, commit: string): Promise<number | 'accepted'> {
  await using gate = new VersionGate({ repoPath, remediation: REMEDIATION });
  const r = await gate.checkAsync(commit);
  return r.isOk() ? 'accepted' : r.error.status;
}

describe('VersionGate and history rewritten at read time', () => {
  it('refuses a commit that only a replace ref puts into HEAD’s history', async () => {
    const { dir, main, side } = repoWithSideCommit();
    // Replace main~1 by a copy whose parent is the side commit.
    git(dir, 'replace', '--graft', main[1]!, side);
    expect(git(dir, 'log', '--format=%H', 'HEAD').split('\n')).toContain(side); // the trick works on plain git log
    expect(trueHistory(dir)).not.toContain(side);

    expect(await verdictFor(dir, side)).toBe(412);
    expect(await verdictFor(dir, main[4]!)).toBe('accepted');
  });

  it('refuses a commit that only an info/grafts file puts into HEAD’s history', async () => {
    const { dir, main, side } = repoWithSideCommit();
    writeFileSync(join(dir, '.git', 'info', 'grafts'), `${main[1]} ${side}\n`);
    expect(git(dir, '-c', 'advice.graftFileDeprecated=false', 'log', '--format=%H', 'HEAD').split('\n')).toContain(side);
    expect(trueHistory(dir)).not.toContain(side);

    expect(await verdictFor(dir, side)).toBe(412);
    expect(await verdictFor(dir, main[4]!)).toBe('accepted');
  });

  it('does not take the commits of a repository above a repoPath that is not a clone', async () => {
    const outer = createRepo(3);
    const notAClone = join(outer.dir, 'code-clone');
    mkdirSync(notAClone); // e.g. the clone was removed for a fresh one, leaving the directory
    expect(git(notAClone, 'rev-parse', 'HEAD')).toBe(outer.commits()[0]); // git itself would find the outer repository

    await using gate = new VersionGate({ repoPath: notAClone, remediation: REMEDIATION });
    const ready = await gate.ready();
    expect(ready._unsafeUnwrapErr().code).toBe('GATE_UNAVAILABLE');
    expect(ready._unsafeUnwrapErr().message).toContain('top directory of the clone');
    expect((await gate.checkAsync(outer.commits()[0]))._unsafeUnwrapErr().status).toBe(503);
  });

  it('does not take them either when the directory above repoPath has a colon in its name (no ceiling can name it)', async () => {
    const outer = createRepo(3);
    const notAClone = join(outer.dir, 'snapshots', '2026-12-06T06:00:00', 'code-clone');
    mkdirSync(notAClone, { recursive: true });
    expect(git(notAClone, 'rev-parse', 'HEAD')).toBe(outer.commits()[0]);

    await using gate = new VersionGate({ repoPath: notAClone, remediation: REMEDIATION });
    const ready = await gate.ready();
    expect(ready._unsafeUnwrapErr().code).toBe('GATE_UNAVAILABLE');
    expect(ready._unsafeUnwrapErr().message).toContain('top directory of the clone');
    expect((await gate.checkAsync(outer.commits()[0]))._unsafeUnwrapErr().status).toBe(503);

    // A real clone, a bare repository and a linked worktree there still work.
    const parent = join(outer.dir, 'snapshots', '2026-12-06T06:00:00');
    git(outer.dir, 'clone', '-q', outer.dir, join(parent, 'clone'));
    git(outer.dir, 'clone', '-q', '--bare', outer.dir, join(parent, 'bare.git'));
    git(join(parent, 'clone'), 'worktree', 'add', '-q', '--detach', join(parent, 'worktree'));
    for (const repoPath of ['clone', 'bare.git', 'worktree'])
      expect(await verdictFor(join(parent, repoPath), outer.commits()[2]!)).toBe('accepted');
  });

  it('reads repoPath, not a repository named by a GIT_DIR the process inherited', async () => {
    const gated = createRepo(3);
    const other = createRepo(4);
    const [gatedHead, otherHead] = [gated.commits()[0]!, other.commits()[0]!];
    const saved = process.env.GIT_DIR;
    process.env.GIT_DIR = join(other.dir, '.git'); // e.g. a receiver restarted from a git hook
    try {
      expect(await verdictFor(gated.dir, otherHead)).toBe(412);
      expect(await verdictFor(gated.dir, gatedHead)).toBe('accepted');
    } finally {
      if (saved === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = saved;
    }
  });
});

describe('VersionGate on a HEAD that names no commit', () => {
  it.each([
    ['an annotated tag of a tree', 'HEAD^{tree}'],
    ['an annotated tag of a blob', 'blob'],
  ])('HEAD as %s: never loads, and says HEAD is not a commit', async (_, target) => {
    const repo = createRepo(2);
    const head = repo.commits()[0]!;
    const object =
      target === 'blob'
        ? execFileSync('git', ['-C', repo.dir, 'hash-object', '-w', '--stdin'], { input: 'x', encoding: 'utf8' }).trim()
        : git(repo.dir, 'rev-parse', target);
    git(repo.dir, 'tag', '-a', '-m', 'odd tag', 'odd', object);
    git(repo.dir, 'symbolic-ref', 'HEAD', 'refs/tags/odd');
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    const loaded = await gate.ready();
    expect(loaded.isErr()).toBe(true);
    expect(loaded._unsafeUnwrapErr().code).toBe('GATE_UNAVAILABLE');
    expect(loaded._unsafeUnwrapErr().message).toMatch(/HEAD .*not a commit/);
    expect((await gate.checkAsync(head))._unsafeUnwrapErr().status).toBe(503);
  });
});
