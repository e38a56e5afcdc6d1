/**
 * A gate given a wall clock (`now: Date.now`, as a receiver may pass) that
 * is stepped back (NTP, a VM restored, an operator fixing the date): the
 * commit set must not stay cached until the clock is back where it was.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { VersionGate } from '../../../src/version-gate/index.js';
import { countingGit, createRepo, manualClock, REMEDIATION, removeScratchDirs } from './git-fixture.js';

afterAll(removeScratchDirs);

describe('VersionGate and a clock stepped back', () => {
  it('refreshes after the TTL from the step, not after the clock has caught up with the old time', async () => {
    const repo = createRepo(5);
    const clock = manualClock(1_765_000_000_000); // a wall clock, in ms
    const git = countingGit();
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, ttlMs: 5_000, now: clock.now, git: git.path });
    expect((await gate.ready()).isOk()).toBe(true);
    expect(git.runs()).toBe(1);

    clock.advance(-3_600_000); // an hour back
    const fresh = repo.addCommit('pushed after the clock step');
    // The set is as old as it was; a refresh of it is due once the TTL has passed,
    // and a 412 is confirmed against the refreshed set (a shipper takes 412 as fatal).
    clock.advance(5_000);
    const verdict = await gate.checkAsync(fresh);
    expect(git.runs()).toBe(2);
    expect(verdict._unsafeUnwrap()).toMatchObject({ commit: fresh, headCommit: fresh, behind: 0 });
  });

  it('retries a failing git on the TTL after a step back, not an hour later', async () => {
    const repo = createRepo(5);
    const clock = manualClock(1_765_000_000_000);
    const git = countingGit();
    await using gate = new VersionGate({
      repoPath: `${repo.dir}-missing`,
      remediation: REMEDIATION,
      ttlMs: 5_000,
      now: clock.now,
      git: git.path,
    });
    expect((await gate.ready()).isErr()).toBe(true);
    expect(git.runs()).toBe(1);
    clock.advance(-3_600_000);
    clock.advance(5_000);
    // Still 503 (nothing ever loaded), but git was tried again.
    expect((await gate.checkAsync(repo.commits()[0]))._unsafeUnwrapErr().status).toBe(503);
    expect(git.runs()).toBe(2);
  });
});
