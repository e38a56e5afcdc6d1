import { describe, expect, it } from 'vitest';
import {
  DEFAULT_GATE_HEADER,
  DEFAULT_GATE_TTL_MS,
  DEFAULT_GATE_WINDOW,
  VersionGate,
  type VersionGateConfig,
} from '../../../src/version-gate/index.js';

const base: VersionGateConfig = { repoPath: 'some-clone', remediation: 'git pull' };

describe('VersionGate configuration', () => {
  it('applies the defaults and resolves the repository path', () => {
    const gate = new VersionGate(base);
    const settings = gate.settings()._unsafeUnwrap();
    // The defaults the README documents.
    expect([DEFAULT_GATE_WINDOW, DEFAULT_GATE_TTL_MS, DEFAULT_GATE_HEADER]).toEqual([100, 5000, 'x-code-commit']);
    expect(settings.window).toBe(100);
    expect(settings.ttlMs).toBe(5000);
    expect(settings.header).toBe('x-code-commit');
    expect(settings.enabled).toBe(true);
    expect(settings.repoPath.endsWith('some-clone')).toBe(true);
    expect(settings.repoPath.startsWith('/') || /^[A-Za-z]:/.test(settings.repoPath)).toBe(true);
    expect(Object.isFrozen(gate)).toBe(true);
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('lower-cases the header name and joins remediation lines, trimming blank edges', () => {
    const gate = new VersionGate({
      ...base,
      header: 'X-Lab-Commit',
      remediation: ['', 'cd /srv/app && git pull', "sudo systemctl restart 'app'", ''],
    });
    expect(gate.settings()._unsafeUnwrap().header).toBe('x-lab-commit');
    expect(gate.settings()._unsafeUnwrap().remediation).toBe("cd /srv/app && git pull\nsudo systemctl restart 'app'");
    expect(new VersionGate({ ...base, remediation: 'a\r\nb\n' }).settings()._unsafeUnwrap().remediation).toBe('a\nb');
  });

  it.each<[string, Partial<VersionGateConfig>]>([
    ['empty repoPath', { repoPath: '' }],
    ['window 0', { window: 0 }],
    ['fractional window', { window: 2.5 }],
    ['huge window', { window: 10_000_000 }],
    ['negative ttl', { ttlMs: -1 }],
    ['NaN ttl', { ttlMs: Number.NaN }],
    ['zero git timeout', { gitTimeoutMs: 0 }],
    // node:child_process throws on a fraction (a crash from the background refresh), and a timer past 2^31 - 1 ms fires at once.
    ['fractional git timeout', { gitTimeoutMs: 1.5 }],
    ['git timeout longer than a timer holds', { gitTimeoutMs: 2 ** 31 }],
    ['header with a space', { header: 'x code' }],
    ['header with CRLF', { header: 'x-code\r\nx-evil' }],
    ['empty remediation', { remediation: '' }],
    ['blank remediation lines', { remediation: ['  ', ''] }],
    ['remediation with an escape character', { remediation: 'echo \u001b[31m' }],
    ['remediation with a non-string line', { remediation: ['ok', 5 as unknown as string] }],
    ['empty git', { git: '' }],
  ])('refuses %s with INVALID_ARGUMENT from every method, and never accepts', async (_name, patch) => {
    await using gate = new VersionGate({ ...base, ...patch } as VersionGateConfig);
    expect(gate.settings()._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await gate.ready())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await gate.refresh())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    const message = gate.settings()._unsafeUnwrapErr().message;
    expect(gate.status()).toMatchObject({ loaded: false, failing: true, lastError: message });
    // A misconfigured gate fails closed: 503, retryable, for a well-formed commit too.
    for (const commit of ['a'.repeat(40), 'nope', undefined]) {
      const rejection = gate.check(commit)._unsafeUnwrapErr();
      expect(rejection).toMatchObject({ status: 503, code: 'GATE_UNAVAILABLE' });
      expect(rejection.body.message).not.toContain(message);
      expect((await gate.checkAsync(commit))._unsafeUnwrapErr().status).toBe(503);
    }
  });

  it('does not throw for a missing configuration object either', async () => {
    const gate = new VersionGate(undefined as unknown as VersionGateConfig);
    expect((await gate.ready())._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(gate.check('a'.repeat(40))._unsafeUnwrapErr().status).toBe(503);
  });

  it('does not mutate the caller’s remediation array', () => {
    const lines = ['', 'git pull', ''];
    new VersionGate({ ...base, remediation: lines });
    expect(lines).toEqual(['', 'git pull', '']);
  });

  it('a 400 does not need git and a disabled gate reports itself in status()', () => {
    const gate = new VersionGate({ ...base, enabled: false });
    expect(gate.status()).toMatchObject({ enabled: false, loaded: false, failing: false });
    const enforced = new VersionGate(base);
    expect(enforced.check('nope')._unsafeUnwrapErr()).toMatchObject({ status: 400, code: 'COMMIT_MALFORMED' });
    expect(enforced.status().loaded).toBe(false);
  });
});
