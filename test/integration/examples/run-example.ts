import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** What one run of an example printed, and its exit status. */
export interface ExampleRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Starts `npx tsx examples/<name>` (as node --import tsx) with only PATH, HOME and `env`, in `cwd` (the repository root by
 * default); `stdout` is a pipe, or the file descriptor given (`/dev/full` opened for writing, say).
 */
export function startExample(
  name: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
  cwd = repoRoot,
  stdout: 'pipe' | number = 'pipe',
): ChildProcess {
  return spawn(process.execPath, ['--import', tsxLoader, fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url)), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', stdout, 'pipe'],
  });
}

/**
 * Runs an example to completion. `stdout` as for {@link startExample}, or `closed`: a pipe whose reader has gone
 * (`| head -1` once it has its line), closed as soon as the example is started.
 */
export function runExample(
  name: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
  cwd = repoRoot,
  stdoutTo: 'pipe' | 'closed' | number = 'pipe',
): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const child = startExample(name, args, env, cwd, stdoutTo === 'closed' ? 'pipe' : stdoutTo);
    let stdout = '';
    let stderr = '';
    if (stdoutTo === 'closed') child.stdout!.destroy();
    else child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A run's exit status and output, for an assertion's message. */
export function showRun(r: ExampleRun): string {
  return `exit ${String(r.code)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
