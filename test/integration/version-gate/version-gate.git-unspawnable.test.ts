/**
 * A `git` option whose path runs through a regular file (`/opt/tools/git`
 * where /opt/tools is a file, a typo): spawning it fails at once with
 * ENOTDIR, which Node's spawn throws rather than reports to the callback,
 * as it does ENOENT. The refresh a stale `check()` starts in the
 * background, with nobody awaiting it, rejected: an unhandled rejection,
 * which ends the server the gate guards; `ready()`, `checkAsync()` and
 * `close()` rejected with it instead of answering.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { VersionGate } from '../../../src/version-gate/index.js';
import { collectUnobserved } from '../../support/unobserved.js';
import { createRepo, recordingLogger, REMEDIATION, removeScratchDirs, scratchDir } from './git-fixture.js';

afterAll(removeScratchDirs);
const unobserved = collectUnobserved();

describe('VersionGate whose git cannot be spawned (ENOTDIR)', () => {
  it('answers 503, leaves no rejection unhandled, and ready() says why', async () => {
    const repo = createRepo(3);
    const file = join(scratchDir('notdir'), 'tools');
    writeFileSync(file, 'a file, not a directory\n');
    const { logger, calls } = recordingLogger();
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: join(file, 'git'), logger });
    // The first check starts the refresh in the background and answers at once.
    expect(gate.check(repo.commits()[0])._unsafeUnwrapErr()).toMatchObject({ status: 503, code: 'GATE_UNAVAILABLE' });
    // The refresh reads the repository's paths on the thread pool before it
    // spawns git, so a busy machine needs more than a few turns: wait for its
    // logged failure without awaiting it, then let a rejection surface.
    await vi.waitFor(() => expect(calls.error).toHaveLength(1), { timeout: 20_000, interval: 5 });
    for (let turn = 0; turn < 20; turn++) await nextTurn();
    expect(unobserved).toEqual({ rejections: [], exceptions: [] });
    const ready = await gate.ready();
    expect(ready._unsafeUnwrapErr().code).toBe('GATE_UNAVAILABLE');
    expect(ready._unsafeUnwrapErr().message).toContain(`Could not run git (\`${join(file, 'git')}\`)`);
    expect(ready._unsafeUnwrapErr().message).toContain('ENOTDIR');
    expect((await gate.checkAsync(repo.commits()[0]))._unsafeUnwrapErr().status).toBe(503);
  });
});
