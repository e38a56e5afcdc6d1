import { describe, expect, it } from 'vitest';
import type { CommandRun, CommandSpec } from '../../../src/cli/command.js';
import { EXIT_CODES } from '../../../src/cli/exit-codes.js';
import { runCli } from '../../../src/cli/run-cli.js';

/** A command that logs a line and draws progress, as the long commands do. */
const drawing: CommandSpec = {
  group: 'test',
  name: 'draw',
  summary: 'Logs and draws progress.',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'nothing',
  flags: {},
  examples: [],
  async *run(ctx): CommandRun {
    const progress = ctx.progress('work', 'items');
    ctx.logger.info('starting');
    progress.update(5, 10);
    await new Promise((resolve) => setTimeout(resolve, 150));
    progress.update(10, 10);
    progress.done();
    return { exitCode: EXIT_CODES.OK.code, report: null, lines: [] };
  },
};

async function stderrOf(env: Record<string, string>): Promise<string> {
  let stderr = '';
  const code = await runCli(
    ['test', 'draw'],
    { test: async () => [drawing] },
    {
      stdout: { write: () => true },
      stderr: { isTTY: true, columns: 100, write: (t: string) => (stderr += t) },
      env,
      cwd: process.cwd(),
      signal: new AbortController().signal,
      version: '0.0.0',
    },
  );
  expect(code).toBe(0);
  return stderr;
}

describe('a terminal that cannot take escape sequences', () => {
  it('TERM=dumb gets plain lines and no escape sequence, like a pipe', async () => {
    const text = await stderrOf({ TERM: 'dumb' });
    expect(text).not.toContain('\x1b');
    expect(text).not.toContain('\r');
    expect(text).toContain('info: starting\n');
  });

  it('another terminal still gets the redrawn bar', async () => {
    expect(await stderrOf({ TERM: 'xterm-256color' })).toContain('\r\x1b[2K');
  });
});
