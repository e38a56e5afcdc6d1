/**
 * `--json=true` and `--json=false` (as a script passes a variable) mean
 * `--json` and `--no-json`, like every boolean flag's `=true` / `=false`;
 * any other value is a usage error, and one that asked for JSON gets it as
 * the one JSON document on stdout that `--json` promises.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, jsonOf } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-cli-switch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const missing = join(dir, 'no-such-SHA256SUMS');

describe('CLI --json spelled with a value', () => {
  it.each([
    [['checksums', 'verify', missing, '--json=true']],
    [['--json=true', 'checksums', 'verify', missing]],
    [['checksums', 'verify', missing, '--no-json', '--json=true']],
  ])('%j answers as JSON, like --json', async (args) => {
    const r = await cli(args);
    expect(r.code).toBe(8);
    expect(jsonOf(r)).toMatchObject({ command: 'checksums verify', ok: false, exitCode: 8, error: { code: 'IO_ERROR' } });
  });

  it.each([[['checksums', 'verify', missing, '--json=false']], [['checksums', 'verify', missing, '--json', '--json=false']]])(
    '%j answers as text, like --no-json',
    async (args) => {
      const r = await cli(args);
      expect(r.code).toBe(8);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^error IO_ERROR: /);
    },
  );

  it.each(['--json=', '--json=yes', '--json=TRUE'])('%s is a usage error printed as the JSON document', async (flag) => {
    const r = await cli(['checksums', 'verify', missing, flag]);
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc).toMatchObject({ command: 'checksums verify', ok: false, exitCode: 2, report: null });
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toContain(
      `--json is on or off: write --json or --no-json (--json=true and --json=false also work), not ${JSON.stringify(flag)}`,
    );
  });
});

describe('CLI global flags with a value before the group', () => {
  it.each([
    ['--json=yes', /^--json is on or off: /],
    ['--quiet=no', /^--quiet is on or off: /],
  ])('%s is refused for its value, not sent after the command where it fails again', async (flag, message) => {
    const r = await cli([flag, 'checksums', 'verify', missing, '--json']);
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc).toMatchObject({ command: null, exitCode: 2 });
    expect(doc.error?.message).toMatch(message);
  });
});

describe('CLI boolean flags spelled with a value', () => {
  it('--sha256-file=false is --no-sha256-file', async () => {
    const out = join(dir, 'plain.tar.zst');
    const r = await cli(['dataset', 'build', out, '--linksets', '1', '--chunks', '1', '--sha256-file=false', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(existsSync(`${out}.sha256`)).toBe(false);
  });

  it('--sha256-file=no is a usage error that writes nothing', async () => {
    const out = join(dir, 'refused.tar.zst');
    const r = await cli(['dataset', 'build', out, '--linksets', '1', '--chunks', '1', '--sha256-file=no']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --sha256-file is on or off: /);
    expect(existsSync(out)).toBe(false);
  });
});
