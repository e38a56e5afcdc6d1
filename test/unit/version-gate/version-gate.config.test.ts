import { describe, expect, it } from 'vitest';
import { BackfillError } from '../../../src/errors.js';
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
    expect(gate.window).toBe(DEFAULT_GATE_WINDOW);
    expect(gate.ttlMs).toBe(DEFAULT_GATE_TTL_MS);
    expect(gate.header).toBe(DEFAULT_GATE_HEADER);
    expect(gate.enabled).toBe(true);
    expect(gate.repoPath.endsWith('some-clone')).toBe(true);
    expect(gate.repoPath.startsWith('/') || /^[A-Za-z]:/.test(gate.repoPath)).toBe(true);
    expect(Object.isFrozen(gate)).toBe(true);
  });

  it('lower-cases the header name and joins remediation lines, trimming blank edges', () => {
    const gate = new VersionGate({
      ...base,
      header: 'X-Lab-Commit',
      remediation: ['', 'cd /srv/app && git pull', "sudo systemctl restart 'app'", ''],
    });
    expect(gate.header).toBe('x-lab-commit');
    expect(gate.remediation).toBe("cd /srv/app && git pull\nsudo systemctl restart 'app'");
    expect(new VersionGate({ ...base, remediation: 'a\r\nb\n' }).remediation).toBe('a\nb');
  });

  it.each<[string, Partial<VersionGateConfig>]>([
    ['empty repoPath', { repoPath: '' }],
    ['window 0', { window: 0 }],
    ['fractional window', { window: 2.5 }],
    ['huge window', { window: 10_000_000 }],
    ['negative ttl', { ttlMs: -1 }],
    ['NaN ttl', { ttlMs: Number.NaN }],
    ['zero git timeout', { gitTimeoutMs: 0 }],
    ['header with a space', { header: 'x code' }],
    ['header with CRLF', { header: 'x-code\r\nx-evil' }],
    ['empty remediation', { remediation: '' }],
    ['blank remediation lines', { remediation: ['  ', ''] }],
    ['remediation with an escape character', { remediation: 'echo \u001b[31m' }],
    ['remediation with a non-string line', { remediation: ['ok', 5 as unknown as string] }],
    ['empty git', { git: '' }],
  ])('refuses %s with INVALID_ARGUMENT', (_name, patch) => {
    const config = { ...base, ...patch } as VersionGateConfig;
    const created = VersionGate.create(config);
    expect(created._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(() => new VersionGate(config)).toThrow(BackfillError);
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
