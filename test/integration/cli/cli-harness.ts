import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';

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
 * it is started; `onStderr` gets stderr as it comes; `killAfterMs` kills it (SIGKILL, then `signal`) if it is
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
    onStderr?: (chunk: string) => void;
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
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      options.onStderr?.(d);
    });
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
 * Runs `backfill-kit <args>` in this process, through {@link runCli} with the
 * real command groups: what main.ts runs, without its process (no Node
 * version check, signals or exit). For tests of argument parsing and usage
 * errors, which need no process of their own: a spawn costs a second or two
 * of CPU, and dozens at once on a loaded 2-core machine took over a minute.
 * The environment is only `env` plus PATH and HOME, as {@link cli} gives.
 */
export async function cliInProcess(args: readonly string[], options: { env?: Record<string, string> } = {}): Promise<CliRun> {
  const [{ runCli }, { commandGroups }, { kitVersion }] = await Promise.all([
    import('../../../src/cli/run-cli.js'),
    import('../../../src/cli/groups.js'),
    import('../../../src/_internals/package-json.js'),
  ]);
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, commandGroups, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env },
    cwd: repoRoot,
    signal: new AbortController().signal,
    version: kitVersion(),
  });
  return { code, signal: null, stdout, stderr };
}

/**
 * Runs a command that must be refused at once, not wait (a worker that
 * waited would wait for jobs for ever): it exits 2, and is killed after
 * `withinMs`, failing the test, if it still runs. The kill is the bound:
 * no clock is read, so a slow start on a loaded machine is no failure.
 */
export async function refusedAtOnce(args: readonly string[], env: Record<string, string>, withinMs = 40_000): Promise<CliRun> {
  const r = await cli(args, { env, killAfterMs: withinMs });
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stderr).toBe(2);
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

/** The `--json` document of a run stopped by a signal: exit 130 and `ABORTED`, its message matching `says`. */
export function abortedJsonOf(run: CliRun, says: RegExp): CliJsonDocument {
  expect(run.code, run.stderr).toBe(130);
  const doc = jsonOf(run);
  expect(doc.error?.code).toBe('ABORTED');
  expect(doc.error?.message).toMatch(says);
  // The library's `error.partial` is no name an operator of the command line has.
  expect(doc.error?.message).not.toContain('error.partial');
  return doc;
}

/**
 * A database of its own for a test file whose staging tables hold a small
 * dataset (7 linksets, 3 advisory chunks), built in `dir` and imported by
 * the CLI, as an operator's previous import left them.
 */
export async function stagedTestDatabase(dir: string): Promise<TestDatabase> {
  const db = await createTestDatabase();
  const ds = join(dir, 'staged.tar.zst');
  for (const args of [
    ['dataset', 'build', ds, '--linksets', '7', '--chunks', '3', '--quiet'],
    ['dataset', 'import', ds, '--quiet'],
  ]) {
    const r = await cli(args, { env: { PGURI: db.url } });
    expect(r.code, r.stderr).toBe(0);
  }
  return db;
}

/** Resolves once a backend of `db` waits for a lock on a statement that matches `pattern` (a LIKE pattern). */
export async function waitingForLock(db: TestDatabase, pattern: string): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    const rows = await db.query(
      "SELECT 1 FROM pg_catalog.pg_stat_activity WHERE datname = pg_catalog.current_database() AND wait_event_type = 'Lock' AND query LIKE $1",
      [pattern],
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no backend waited for a lock on ${pattern}`);
}

/**
 * Runs the CLI with `args` (and `--json`) while a reader's transaction holds
 * `lock` (`LOCK TABLE … IN … MODE`); once the command waits for a lock on a
 * statement matching `waitsOn`, sends it `signal`, then lets the reader
 * finish a second later (so the lock is granted after the operator's
 * Ctrl-C was seen), and returns the run.
 */
export async function interruptedWhileLocked(
  db: TestDatabase,
  { lock, waitsOn }: { readonly lock: string; readonly waitsOn: string },
  args: readonly string[],
  signal: NodeJS.Signals,
): Promise<CliRun> {
  const reader = new pg.Client({ connectionString: db.url });
  await reader.connect();
  try {
    await reader.query('BEGIN');
    await reader.query(lock);
    let pid: number | undefined;
    const running = cli([...args, '--json'], { env: { PGURI: db.url }, onSpawn: (p) => (pid = p) });
    await waitingForLock(db, waitsOn);
    process.kill(pid!, signal);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await reader.query('COMMIT');
    return await running;
  } finally {
    await reader.end();
  }
}
