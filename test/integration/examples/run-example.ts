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

/** Starts `npx tsx examples/<name>` (as node --import tsx) with only PATH, HOME and `env`, in `cwd` (the repository root by default). */
export function startExample(name: string, args: readonly string[] = [], env: Record<string, string> = {}, cwd = repoRoot): ChildProcess {
  return spawn(process.execPath, ['--import', tsxLoader, fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url)), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs an example to completion. */
export function runExample(
  name: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
  cwd = repoRoot,
): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const child = startExample(name, args, env, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A run's exit status and output, for an assertion's message. */
export function showRun(r: ExampleRun): string {
  return `exit ${String(r.code)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
