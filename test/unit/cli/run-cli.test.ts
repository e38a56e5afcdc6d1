import { errAsync } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import { BackfillError } from '../../../src/errors.js';
import { intFlag, type CommandRun, type CommandSpec } from '../../../src/cli/command.js';
import { EXIT_CODES } from '../../../src/cli/exit-codes.js';
import { runCli } from '../../../src/cli/run-cli.js';

function spec(run: CommandSpec['run']): CommandSpec {
  return {
    group: 'test',
    name: 'cmd',
    summary: 'A command for the runner tests.',
    args: '',
    minArgs: 0,
    maxArgs: 0,
    replaces: 'nothing',
    flags: { count: { type: 'string', description: 'A number.' } },
    examples: [],
    run,
  };
}

/** The CLI's process streams and environment, with output going to `stdout` and `stderr`. */
function testIo(stdout: (text: string) => unknown, stderr: (text: string) => unknown): Parameters<typeof runCli>[2] {
  return {
    stdout: { write: stdout },
    stderr: { write: stderr },
    env: {},
    cwd: process.cwd(),
    signal: new AbortController().signal,
    version: '0.0.0',
  };
}

/** Runs `backfill-kit test cmd …args` and returns the exit status and both streams. */
async function invoke(command: CommandSpec, args: readonly string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    ['test', 'cmd', ...args],
    { test: async () => [command] },
    testIo(
      (t) => (stdout += t),
      (t) => (stderr += t),
    ),
  );
  return { code, stdout, stderr };
}

describe('runCli drives a command body', () => {
  it('prints the outcome the body returns once every step it yields is Ok', async () => {
    const r = await invoke(
      spec(async function* (ctx): CommandRun {
        const n = (yield* intFlag(ctx.flags, 'count', 1, 9)) ?? 1;
        return { exitCode: EXIT_CODES.OK.code, report: { n }, lines: [`count ${n}`] };
      }),
      ['--count', '3', '--json'],
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'test cmd', ok: true, report: { n: 3 } });
  });

  it('stops at the first Err the body yields and reports it with its exit status', async () => {
    let after = false;
    const r = await invoke(
      spec(async function* (ctx): CommandRun {
        yield* intFlag(ctx.flags, 'count', 1, 9);
        after = true;
        return { exitCode: EXIT_CODES.OK.code, report: null, lines: [] };
      }),
      ['--count', '10', '--json'],
    );
    expect(after).toBe(false);
    expect(r.code).toBe(EXIT_CODES.USAGE.code);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' }, report: null });
    expect(r.stderr).toContain('--count must be an integer from 1 to 9, not "10".');
  });

  it('runs the cleanups of a body stopped by an Err (finally blocks, await using)', async () => {
    const cleaned: string[] = [];
    const r = await invoke(
      spec(async function* (): CommandRun {
        await using _resource = { [Symbol.asyncDispose]: async () => void cleaned.push('disposed') };
        try {
          yield* errAsync(new BackfillError('IO_ERROR', 'disk gone'));
          return { exitCode: EXIT_CODES.OK.code, report: null, lines: [] };
        } finally {
          cleaned.push('finally');
        }
      }),
    );
    expect(r.code).toBe(EXIT_CODES.IO.code);
    expect(cleaned).toEqual(['finally', 'disposed']);
  });

  it('reports an unexpected throw as a bug (INTERNAL) and a Node system error as IO_ERROR', async () => {
    const bug = await invoke(
      spec(async function* (ctx): CommandRun {
        yield* intFlag(ctx.flags, 'count');
        throw new TypeError('undefined is not a function');
      }),
    );
    expect(bug.code).toBe(EXIT_CODES.INTERNAL.code);
    expect(bug.stderr).toContain('error INTERNAL: undefined is not a function');
    const system = await invoke(
      spec(async function* (ctx): CommandRun {
        yield* intFlag(ctx.flags, 'count');
        throw Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
      }),
    );
    expect(system.code).toBe(EXIT_CODES.IO.code);
    expect(system.stderr).toContain('ENOENT');
  });
});

describe('runCli loads command groups on demand', () => {
  /** Two groups whose loads are recorded; runs `argv` and returns the groups loaded and the output. */
  async function loading(argv: readonly string[]): Promise<{ loaded: string[]; code: number; out: string }> {
    const loaded: string[] = [];
    const group = (name: string) => async () => {
      loaded.push(name);
      return [
        {
          ...spec(async function* (ctx): CommandRun {
            yield* intFlag(ctx.flags, 'count', 1, 9);
            return { exitCode: 0, report: null, lines: [`ran ${name}`] };
          }),
          group: name,
        },
      ];
    };
    let out = '';
    const code = await runCli(
      argv,
      { alpha: group('alpha'), beta: group('beta') },
      testIo(
        (t) => (out += t),
        (t) => (out += t),
      ),
    );
    return { loaded, code, out };
  }

  it('imports only the group a command names, even behind hoisted global flags', async () => {
    expect(await loading(['beta', 'cmd'])).toMatchObject({ loaded: ['beta'], code: 0, out: 'ran beta\n' });
    expect((await loading(['--json', 'alpha', 'cmd', '--help'])).loaded).toEqual(['alpha']);
    expect((await loading(['alpha', 'cdm'])).out).toContain('Did you mean alpha cmd?');
  });

  it('imports every group for the root help and for a mistyped group, whose summaries and names they list', async () => {
    const help = await loading(['--help']);
    expect(help.loaded.sort()).toEqual(['alpha', 'beta']);
    expect(help.out).toContain('alpha cmd');
    expect(help.out).toContain('beta cmd');
    const typo = await loading(['bta', 'cmd']);
    expect(typo.code).toBe(EXIT_CODES.USAGE.code);
    expect(typo.loaded.sort()).toEqual(['alpha', 'beta']);
    expect(typo.out).toContain('Did you mean beta?');
  });

  it('needs no group for --version', async () => {
    expect(await loading(['--version'])).toMatchObject({ loaded: [], code: 0, out: '0.0.0\n' });
  });
});
