import { existsSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VersionGate } from '../../../src/version-gate/index.js';
import {
  countingGit,
  createRepo,
  manualClock,
  recordingLogger,
  REMEDIATION,
  removeDir,
  removeScratchDirs,
  scratchDir,
} from './git-fixture.js';

afterAll(removeScratchDirs);

describe('VersionGate.check against a real 150-commit repository', () => {
  const repo = createRepo(150);
  const commits = repo.commits();

  it('accepts head and the 100th commit, refuses the 101st with 412 and head_commit', async () => {
    expect(commits).toHaveLength(150);
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    expect((await gate.ready()).isOk()).toBe(true);
    expect(gate.status()).toMatchObject({ loaded: true, size: 100, headCommit: commits[0] });

    const head = gate.check(commits[0]);
    expect(head._unsafeUnwrap()).toEqual({ commit: commits[0], headCommit: commits[0], behind: 0, enforced: true });
    expect(gate.check(commits[99])._unsafeUnwrap().behind).toBe(99);

    const r101 = gate.check(commits[100]);
    expect(r101.isErr()).toBe(true);
    const rejection = r101._unsafeUnwrapErr();
    expect(rejection.status).toBe(412);
    expect(rejection.code).toBe('COMMIT_NOT_RECENT');
    expect(rejection.body).toMatchObject({
      code: 'COMMIT_NOT_RECENT',
      your_commit: commits[100],
      head_commit: commits[0],
      remediation: REMEDIATION.join('\n'),
    });
    expect(rejection.body.message).toContain('100 most recent');
    expect(gate.check(commits[149])._unsafeUnwrapErr().status).toBe(412);
  });

  it('matches hashes case-insensitively and reports them in lower case', async () => {
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    await gate.ready();
    const upper = commits[5]!.toUpperCase();
    expect(gate.check(upper)._unsafeUnwrap().commit).toBe(commits[5]);
    expect(gate.check(commits[120]!.toUpperCase())._unsafeUnwrapErr().body.your_commit).toBe(commits[120]);
  });

  it('honours a custom window', async () => {
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, window: 10 });
    await gate.ready();
    expect(gate.check(commits[9]).isOk()).toBe(true);
    expect(gate.check(commits[10])._unsafeUnwrapErr().status).toBe(412);
  });
});

describe('refresh after the TTL (injected clock)', () => {
  it('accepts a commit made after the gate was created once the TTL has passed', async () => {
    const repo = createRepo(20);
    const clock = manualClock();
    const git = countingGit();
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, ttlMs: 5_000, now: clock.now, git: git.path });
    await gate.ready();
    expect(git.runs()).toBe(1);

    const fresh = repo.addCommit('landed after the gate loaded');
    expect((await gate.checkAsync(fresh))._unsafeUnwrapErr().status).toBe(412);
    clock.advance(4_999);
    expect(gate.check(fresh)._unsafeUnwrapErr().status).toBe(412);
    expect(git.runs()).toBe(1); // still fresh: no git

    clock.advance(1);
    // The async variant confirms a miss on a stale set against the refreshed one.
    const accepted = await gate.checkAsync(fresh);
    expect(accepted._unsafeUnwrap()).toMatchObject({ commit: fresh, headCommit: fresh, behind: 0 });
    expect(git.runs()).toBe(2);

    // The synchronous check answers from the stale set while its refresh runs.
    const second = repo.addCommit('second late commit');
    clock.advance(5_000);
    expect(gate.check(second)._unsafeUnwrapErr().status).toBe(412);
    expect((await gate.refresh()).isOk()).toBe(true);
    expect(git.runs()).toBe(3);
    expect(gate.check(second)._unsafeUnwrap().behind).toBe(0);
    expect(gate.check(fresh)._unsafeUnwrap().behind).toBe(1);
  });
});

describe('refresh with the default (monotonic) clock', () => {
  it('picks up a new commit after a short real TTL', async () => {
    const repo = createRepo(3);
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, ttlMs: 50 });
    await gate.ready();
    const fresh = repo.addCommit('after load');
    expect(gate.check(fresh)._unsafeUnwrapErr().status).toBe(412);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect((await gate.checkAsync(fresh))._unsafeUnwrap().behind).toBe(0);
  });
});

describe('git failures after the first load', () => {
  it('keeps the old set when the repository path disappears, and logs one error per streak', async () => {
    const repo = createRepo(30);
    const commits = repo.commits();
    const clock = manualClock();
    const { logger, calls } = recordingLogger();
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, ttlMs: 1_000, now: clock.now, logger });
    await gate.ready();

    const away = `${repo.dir}-moved`;
    renameSync(repo.dir, away);
    for (let i = 0; i < 5; i += 1) {
      clock.advance(1_000);
      expect(gate.check(commits[0])._unsafeUnwrap().behind).toBe(0); // answered from the old set
      const refreshed = await gate.refresh(); // joins the refresh the check started
      expect(refreshed._unsafeUnwrapErr().code).toBe('GATE_UNAVAILABLE');
      expect(gate.check(commits[29])._unsafeUnwrap().behind).toBe(29);
    }
    expect(calls.error).toHaveLength(1);
    expect(calls.error[0]).toContain('keeping the previous commit set');
    expect(calls.warn).toHaveLength(0);
    expect(gate.status()).toMatchObject({ loaded: true, failing: true, size: 30 });

    renameSync(away, repo.dir);
    clock.advance(1_000);
    expect((await gate.refresh()).isOk()).toBe(true);
    expect(calls.info.filter((m) => m.includes('recovered'))).toHaveLength(1);
    expect(gate.status().failing).toBe(false);

    // A new streak logs again, once.
    removeDir(repo.dir);
    expect(existsSync(repo.dir)).toBe(false);
    for (let i = 0; i < 3; i += 1) {
      clock.advance(1_000);
      gate.check(commits[1]);
      await gate.refresh();
    }
    expect(calls.error).toHaveLength(2);
    expect(gate.check(commits[1]).isOk()).toBe(true);
  });

  it('retries a failing git at most once per TTL', async () => {
    const repo = createRepo(5);
    const clock = manualClock();
    const git = countingGit();
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, ttlMs: 1_000, now: clock.now, git: git.path });
    await gate.ready();
    removeDir(repo.dir);
    clock.advance(1_000);
    gate.check('a'.repeat(40));
    await gate.refresh();
    const after = git.runs();
    for (let i = 0; i < 50; i += 1) gate.check('a'.repeat(40));
    await gate.refresh(); // explicit refresh runs once more
    expect(git.runs()).toBe(after + 1);
    for (let i = 0; i < 50; i += 1) gate.check('b'.repeat(40));
    expect(git.runs()).toBe(after + 1);
  });
});

describe('single-flight refresh', () => {
  it('1,000 concurrent checks on a cold gate spawn exactly one git', async () => {
    const repo = createRepo(120);
    const commits = repo.commits();
    const git = countingGit({ delaySeconds: 0.3 });
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: git.path });
    const verdicts = await Promise.all(Array.from({ length: 1_000 }, (_, i) => gate.checkAsync(commits[i % 100])));
    expect(verdicts.every((v) => v.isOk())).toBe(true);
    expect(git.runs()).toBe(1);
  });

  it('1,000 concurrent checks during a refresh spawn exactly one git and never wait', async () => {
    const repo = createRepo(120);
    const commits = repo.commits();
    const clock = manualClock();
    const git = countingGit({ delaySeconds: 0.3 });
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: git.path, now: clock.now, ttlMs: 5_000 });
    await gate.ready();
    expect(git.runs()).toBe(1);
    clock.advance(5_000);

    const sync = Array.from({ length: 1_000 }, (_, i) => gate.check(commits[i % 100]));
    expect(sync.every((v) => v.isOk())).toBe(true); // stale-while-revalidate
    // Indexes 100..119 are outside the window: those checks wait for the refresh, then get 412.
    const asyncChecks = Array.from({ length: 1_000 }, (_, i) => gate.checkAsync(commits[i % 120]));
    const joined = gate.refresh(); // joins the running refresh
    const verdicts = await Promise.all(asyncChecks);
    const expectedOk = Array.from({ length: 1_000 }, (_, i) => i % 120).filter((i) => i < 100).length;
    expect(verdicts.filter((v) => v.isOk())).toHaveLength(expectedOk);
    expect(verdicts.filter((v) => v.isErr() && v.error.status === 412)).toHaveLength(1_000 - expectedOk);
    expect((await joined).isOk()).toBe(true);
    expect(git.runs()).toBe(2);
  });

  it('answers 503 (never a blind accept) from a synchronous check before the first load', async () => {
    const repo = createRepo(10);
    const commits = repo.commits();
    const git = countingGit({ delaySeconds: 0.2 });
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: git.path });
    const cold = Array.from({ length: 1_000 }, () => gate.check(commits[0]));
    expect(cold.every((v) => v.isErr() && v.error.status === 503 && v.error.code === 'GATE_UNAVAILABLE')).toBe(true);
    expect((await gate.ready()).isOk()).toBe(true);
    expect(gate.check(commits[0]).isOk()).toBe(true);
    expect(git.runs()).toBe(1);
  });
});

describe('malformed commit values', () => {
  const hex40 = '0123456789abcdef0123456789abcdef01234567';
  const cases: Array<[string, unknown, 'COMMIT_MISSING' | 'COMMIT_MALFORMED']> = [
    ['missing', undefined, 'COMMIT_MISSING'],
    ['empty', '', 'COMMIT_MISSING'],
    ['too short (7, abbreviated)', hex40.slice(0, 7), 'COMMIT_MALFORMED'],
    ['39 hex characters', hex40.slice(0, 39), 'COMMIT_MALFORMED'],
    ['41 hex characters', `${hex40}8`, 'COMMIT_MALFORMED'],
    ['65 hex characters', `${hex40}${hex40.slice(0, 25)}`, 'COMMIT_MALFORMED'],
    ['non-hex', 'g'.repeat(40), 'COMMIT_MALFORMED'],
    ['header injection (CRLF)', `${hex40}\r\nX-Admin: true`, 'COMMIT_MALFORMED'],
    ['header injection (LF only)', `${hex40}\nSet-Cookie: a=b`, 'COMMIT_MALFORMED'],
    ['trailing space', `${hex40} `, 'COMMIT_MALFORMED'],
    ['two headers joined by node', `${hex40}, ${hex40}`, 'COMMIT_MALFORMED'],
    ['sent twice (array)', [hex40, hex40], 'COMMIT_MALFORMED'],
    ['not a string', 42, 'COMMIT_MALFORMED'],
  ];

  it.each(cases)('%s gets 400 with the remediation and starts no git', async (_name, value, code) => {
    const repo = createRepo(3);
    const git = countingGit();
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: git.path });
    const r = gate.check(value);
    const rejection = r._unsafeUnwrapErr();
    expect(rejection.status).toBe(400);
    expect(rejection.code).toBe(code);
    expect(rejection.body.remediation).toBe(REMEDIATION.join('\n'));
    expect(rejection.body.message).toContain('x-code-commit');
    expect(git.runs()).toBe(0);
    removeDir(repo.dir);
  });

  it('says an abbreviated hash is abbreviated and cuts long echoes', async () => {
    await using gate = new VersionGate({ repoPath: scratchDir('unused'), remediation: 'git pull' });
    expect(gate.check('abc1234')._unsafeUnwrapErr().body.message).toContain('abbreviated');
    const huge = gate.check('z'.repeat(10_000))._unsafeUnwrapErr();
    expect(huge.body.your_commit!.length).toBeLessThanOrEqual(101);
  });
});

describe('configuration', () => {
  it('a disabled gate accepts everything and never runs git', async () => {
    const git = countingGit();
    const { logger, calls } = recordingLogger();
    await using gate = new VersionGate({
      repoPath: join(scratchDir('none'), 'missing'),
      remediation: REMEDIATION,
      enabled: false,
      git: git.path,
      logger,
    });
    expect(calls.warn).toHaveLength(1);
    expect((await gate.ready()).isOk()).toBe(true);
    for (const value of [undefined, 'junk', 'a'.repeat(40), 'F'.repeat(64), ['x', 'y']]) {
      const r = gate.check(value);
      expect(r.isOk()).toBe(true);
      expect(r._unsafeUnwrap().enforced).toBe(false);
    }
    expect(gate.check('A'.repeat(40))._unsafeUnwrap().commit).toBe('a'.repeat(40));
    expect((await gate.checkAsync(undefined)).isOk()).toBe(true);
    expect(git.runs()).toBe(0);
  });

  it('answers 503 GATE_UNAVAILABLE when git is missing, and logs once', async () => {
    const repo = createRepo(3);
    const { logger, calls } = recordingLogger();
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: join(scratchDir('nogit'), 'git'), logger });
    const ready = await gate.ready();
    expect(ready._unsafeUnwrapErr().code).toBe('GATE_UNAVAILABLE');
    expect(ready._unsafeUnwrapErr().message).toContain('not found');
    const r = gate.check(repo.commits()[0]);
    expect(r._unsafeUnwrapErr()).toMatchObject({ status: 503, code: 'GATE_UNAVAILABLE', body: { retry_after_s: 5, remediation: null } });
    expect((await gate.checkAsync(repo.commits()[0]))._unsafeUnwrapErr().status).toBe(503);
    expect(calls.error).toHaveLength(1);
    expect(calls.error[0]).toContain('503');
  });

  it('reports git’s own message for a directory that is not a repository', async () => {
    await using gate = new VersionGate({ repoPath: scratchDir('plain'), remediation: REMEDIATION });
    const ready = await gate.ready();
    expect(ready._unsafeUnwrapErr().message).toMatch(/not a git repository/i);
  });

  it('kills a git that hangs after gitTimeoutMs', async () => {
    const hanging = countingGit({ hang: true });
    await using gate = new VersionGate({ repoPath: scratchDir('hang'), remediation: REMEDIATION, git: hanging.path, gitTimeoutMs: 200 });
    // The stand-in sleeps two minutes: a gate that waited for it would hit the test's timeout.
    const ready = await gate.ready();
    expect(ready._unsafeUnwrapErr().message).toContain('did not finish within 200 ms');
  });

  it('close() stops a running git and no git starts afterwards', async () => {
    const repo = createRepo(5);
    const commits = repo.commits();
    const clock = manualClock();
    // The second git (the refresh) sleeps two minutes: a close() that waited for it would hit the test's timeout.
    const slow = countingGit({ hangFromRun: 2 });
    const { logger, calls } = recordingLogger();
    const gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: slow.path, now: clock.now, ttlMs: 10, logger });
    await gate.ready();
    clock.advance(10);
    gate.check(commits[0]);
    while (slow.runs() < 2) await new Promise((resolve) => setTimeout(resolve, 10)); // git is running
    await gate.close();
    clock.advance(1_000);
    expect(gate.check(commits[0]).isOk()).toBe(true);
    expect(slow.runs()).toBe(2);
    expect(calls.error).toHaveLength(0);
    expect(gate.status().closed).toBe(true);
    expect((await gate.refresh())._unsafeUnwrapErr().code).toBe('GATE_UNAVAILABLE');
  });

  it('close() right after a check cancels the refresh before git starts', async () => {
    const repo = createRepo(5);
    const clock = manualClock();
    const git = countingGit();
    const gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: git.path, now: clock.now, ttlMs: 10 });
    await gate.ready();
    clock.advance(10);
    expect(gate.check(repo.commits()[0]).isOk()).toBe(true);
    await gate.close();
    expect(git.runs()).toBe(1);
  });

  it('passes repoPath to git as one argument, never through a shell', async () => {
    const repo = createRepo(4);
    // A file name cannot hold '/', so the injected commands cd to $HOME first.
    const marker = `backfill-kit-vg-pwned-${process.pid}`;
    const hostile = `${repo.dir} $(cd; touch ${marker}); cd; touch ${marker} #`;
    renameSync(repo.dir, hostile);
    try {
      await using gate = new VersionGate({ repoPath: hostile, remediation: REMEDIATION });
      const ready = await gate.ready();
      expect(ready._unsafeUnwrap().size).toBe(4);
      expect(existsSync(join(homedir(), marker))).toBe(false);
    } finally {
      removeDir(hostile);
      removeDir(join(homedir(), marker));
    }
  });

  it('ready({ signal }) stops waiting without cancelling the shared load', async () => {
    const repo = createRepo(3);
    const slow = countingGit({ delaySeconds: 0.3 });
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: slow.path });
    const controller = new AbortController();
    const waiting = gate.ready({ signal: controller.signal });
    controller.abort();
    expect((await waiting)._unsafeUnwrapErr().code).toBe('ABORTED');
    expect((await gate.ready()).isOk()).toBe(true); // joined the same git run
    expect(slow.runs()).toBe(1);
  });

  it('works with a SHA-256 repository', async () => {
    const repo = createRepo(3, { objectFormat: 'sha256' });
    const [head] = repo.commits();
    expect(head).toHaveLength(64);
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    await gate.ready();
    expect(gate.check(head!.toUpperCase())._unsafeUnwrap()).toMatchObject({ commit: head, behind: 0 });
  });
});
