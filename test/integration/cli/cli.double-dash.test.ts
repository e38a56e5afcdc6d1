/**
 * `--` ends the flags. A command named after it has not been run, so the
 * CLI must not answer as if asked for help (exit 0): a script would take
 * the command for done.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, jsonOf } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-cli-dashdash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('backfill-kit and --', () => {
  const root = join(dir, 'episodes');
  mkdirSync(root);
  const index = join(dir, 'index.jsonl');
  const command = ['index', 'backfill', '--episodes-root', root, '--index', index];

  it.each([
    ['before the group', ['--', ...command]],
    ['between group and command', ['index', '--', ...command.slice(1)]],
  ])('-- %s is a usage error (exit 2), not help', async (_where, args) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT/m);
    expect(existsSync(index)).toBe(false);
    const json = await cli(['--json', ...args]);
    expect(json.code).toBe(2);
    expect(jsonOf(json)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'INVALID_ARGUMENT' } });
  });

  it('a bare group and a bare --json still print help (exit 0)', async () => {
    expect((await cli(['index'])).code).toBe(0);
    expect(jsonOf(await cli(['--json'])).report.help).toContain('Usage: backfill-kit');
  });
});
