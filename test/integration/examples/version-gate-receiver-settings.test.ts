import { describe, expect, it } from 'vitest';
import { needTools } from '../../support/tmp.js';
import { showRun as show, startExample, type ExampleRun } from './run-example.js';

/** Runs the receiver until it exits, or kills it after `ms` (then `code` is null: it kept serving). */
function runFor(env: Record<string, string>, ms: number): Promise<ExampleRun> {
  const child = startExample('version-gate-receiver.ts', [], { VERSION_GATE_REPO: '.', HOST: '127.0.0.1', ...env });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

const gitTool = needTools('git');

describe.skipIf(gitTool.missing)(gitTool.title('version-gate-receiver.ts stops with exit 2 on a setting that can never work'), () => {
  it.for<[string, Record<string, string>, RegExp]>([
    // It kept serving 503 to every upload, for ever: the gate's configuration never loads.
    ['VERSION_GATE_WINDOW', { VERSION_GATE_WINDOW: 'abc', PORT: '0' }, /VERSION_GATE_WINDOW must be .*digits 0-9, not "abc"/],
    // Read by Number, 0x10 was a window of 16 commits and 1e2 one of 100, where a count is written with digits.
    ['VERSION_GATE_WINDOW', { VERSION_GATE_WINDOW: '0x10', PORT: '0' }, /VERSION_GATE_WINDOW must be .*digits 0-9, not "0x10"/],
    ['VERSION_GATE_WINDOW', { VERSION_GATE_WINDOW: '1e2', PORT: '0' }, /VERSION_GATE_WINDOW must be .*digits 0-9, not "1e2"/],
    ['VERSION_GATE_WINDOW', { VERSION_GATE_WINDOW: '0', PORT: '0' }, /`window` must be an integer/],
    // `off` left the gate on (only 0/false/no disabled it), and an unknown word was taken as on.
    ['VERSION_GATE_ENABLED', { VERSION_GATE_ENABLED: 'disabled', PORT: '0' }, /VERSION_GATE_ENABLED must be .*"disabled"/],
    // A stack trace from node:net.
    ['PORT', { PORT: 'abc' }, /PORT must be a port number from 0 to 65535, not "abc"/],
  ])('%s: %o', { timeout: 60_000 }, async ([, env, message]) => {
    const r = await runFor(env, 15_000);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr, show(r)).toMatch(message);
    expect(r.stderr, show(r)).not.toMatch(/\n\s+at /);
  });

  it('VERSION_GATE_ENABLED=off disables the gate, as 0/false/no do', async () => {
    const r = await runFor({ VERSION_GATE_ENABLED: 'off', PORT: '0' }, 8_000);
    expect(r.stdout, show(r)).toContain('head (disabled)');
  }, 60_000);
});
