import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'vitest';

/** The repository root (three levels above this file). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** tsx's loader, by absolute URL so the CLI can run from any directory. */
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** What one run of the real CLI did. */
export interface CliRun {
  readonly code: number | null;
  /** The signal that ended the process, when one did (then `code` is null). */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `backfill-kit <args>` as a user would: a separate node process on
 * src/cli/main.ts (through tsx), with only the environment given here plus
 * PATH and HOME, so no database variable leaks in from the test runner.
 * `nodeOptions` go to node itself (e.g. `--max-old-space-size=1024`);
 * `shellWords` are appended for bash to expand (e.g. `<(cat SHA256SUMS)`,
 * which only a shell can give); `onSpawn` gets the process id as soon as
 * it is started; `killAfterMs` kills it (SIGKILL, then `signal`) if it is
 * still running that long after (a command that should not wait for ever).
 */
export function cli(
  args: readonly string[],
  options: {
    env?: Record<string, string>;
    cwd?: string;
    input?: string;
    nodeOptions?: readonly string[];
    shellWords?: string;
    onSpawn?: (pid: number) => void;
    killAfterMs?: number;
  } = {},
): Promise<CliRun> {
  const argv = [
    ...(options.nodeOptions ?? []),
    '--import',
    tsxLoader,
    fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url)),
    ...args,
  ];
  const [command, commandArgs] =
    options.shellWords === undefined
      ? [process.execPath, argv]
      : ['bash', ['-c', `"$@" ${options.shellWords}`, 'bash', process.execPath, ...argv]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, {
      cwd: options.cwd ?? repoRoot,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    const deadline = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.once('close', (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
  });
}

/**
 * Runs a command that must be refused at once, not wait: it exits 2 within
 * `withinMs` (killed then, failing the test, if it still runs).
 */
export async function refusedAtOnce(args: readonly string[], env: Record<string, string>, withinMs = 40_000): Promise<CliRun> {
  const started = Date.now();
  const r = await cli(args, { env, killAfterMs: withinMs });
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stderr).toBe(2);
  expect(Date.now() - started).toBeLessThan(withinMs);
  return r;
}

/** The object `--json` prints. */
export interface CliJsonDocument {
  readonly command: string | null;
  readonly ok: boolean;
  readonly exitCode: number;
  readonly error: { code: string; message: string; dbCode?: string | number; fix: string } | null;
  // biome-ignore lint/suspicious/noExplicitAny: each command's report has its own shape; tests walk it and assert on what they read
  readonly report: any;
}

/** The `--json` document of a run. */
export function jsonOf(run: CliRun): CliJsonDocument {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}
