/**
 * A reader that stops early (`| head -1`, a `jq` that fails, `| true`) closes
 * stdout before the CLI has written its report. The command has finished by
 * then: its exit status must stay its own, with no Node stack trace.
 */
import { describe, expect, it } from 'vitest';
import { cli } from './cli-harness.js';

/** Runs the CLI into a pipe whose reader has already gone, and reports the CLI's own status. */
const intoClosedPipe = (args: readonly string[]) => cli(args, { shellWords: '| true; exit $PIPESTATUS' });

describe('backfill-kit with stdout closed by its reader', () => {
  it('--help --json exits 0 without a stack trace', async () => {
    const r = await intoClosedPipe(['--help', '--json']);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(r.code).toBe(0);
  });

  it('a failed command keeps its exit status (2) and prints its error on stderr', async () => {
    const r = await intoClosedPipe(['index', 'backfill', '--episodes-root', '/nonexistent-episodes', '--index', 'x.jsonl', '--json']);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.stderr).toContain('EPISODES_ROOT_MISSING');
    expect(r.code).toBe(2);
  });

  it('text output (--help) exits 0 without a stack trace', async () => {
    const r = await intoClosedPipe(['gate', 'check', '--help']);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(r.code).toBe(0);
  });
});

describe('backfill-kit with stdout on a full disk', () => {
  it('a report that cannot be written is IO_ERROR (exit 8) on stderr, without a stack trace', async () => {
    const r = await cli(['--help', '--json'], { shellWords: '> /dev/full' });
    expect(r.stderr).toMatch(/^error IO_ERROR: stdout: /m);
    expect(r.stderr).not.toMatch(/writeSync|^\s+at /m);
    expect(r.code).toBe(8);
  });

  it('a failed command keeps its own exit status and still prints its error', async () => {
    const r = await cli(['index', 'backfill', '--episodes-root', '/nonexistent-episodes', '--index', 'x.jsonl', '--json'], {
      shellWords: '> /dev/full',
    });
    expect(r.stderr).toContain('EPISODES_ROOT_MISSING');
    expect(r.stderr).not.toMatch(/writeSync|^\s+at /m);
    expect(r.code).toBe(2);
  });
});
