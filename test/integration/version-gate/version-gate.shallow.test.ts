import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VersionGate } from '../../../src/version-gate/index.js';
import { createRepo, recordingLogger, REMEDIATION, removeScratchDirs, scratchDir } from './git-fixture.js';

afterAll(removeScratchDirs);

describe('VersionGate on a shallow clone', () => {
  const source = createRepo(8);
  const shallow = join(scratchDir('shallow'), 'clone');
  execFileSync('git', ['clone', '-q', '--depth', '2', `file://${source.dir}`, shallow]);
  const complete = join(scratchDir('complete'), 'clone');
  execFileSync('git', ['clone', '-q', `file://${source.dir}`, complete]);

  it('warns once that the clone is shallow and holds fewer commits than the window', async () => {
    const { logger, calls } = recordingLogger();
    await using gate = new VersionGate({ repoPath: shallow, window: 5, remediation: REMEDIATION, logger });
    expect((await gate.ready()).isOk()).toBe(true);
    expect(gate.status().size).toBe(2);
    expect(calls.warn).toHaveLength(1);
    expect(calls.warn[0]).toContain('shallow clone');
    expect(calls.warn[0]).toContain('fetch --unshallow');
    expect((await gate.refresh()).isOk()).toBe(true);
    expect(calls.warn).toHaveLength(1);
  });

  it('also warns for a bare shallow clone and for a linked worktree of a shallow clone', async () => {
    const bare = join(scratchDir('bare'), 'clone.git');
    execFileSync('git', ['clone', '-q', '--bare', '--depth', '2', `file://${source.dir}`, bare]);
    const worktree = join(scratchDir('worktree'), 'tree');
    execFileSync('git', ['-C', shallow, 'worktree', 'add', '-q', '--detach', worktree]);
    for (const repoPath of [bare, worktree]) {
      const { logger, calls } = recordingLogger();
      await using gate = new VersionGate({ repoPath, window: 5, remediation: REMEDIATION, logger });
      expect((await gate.ready()).isOk()).toBe(true);
      expect(calls.warn, repoPath).toHaveLength(1);
    }
  });

  it('says nothing about a complete history shorter than the window', async () => {
    const { logger, calls } = recordingLogger();
    await using gate = new VersionGate({ repoPath: complete, window: 50, remediation: REMEDIATION, logger });
    expect((await gate.ready()).isOk()).toBe(true);
    expect(gate.status().size).toBe(8);
    expect(calls.warn).toEqual([]);
  });
});
