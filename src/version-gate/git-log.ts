/**
 * Reads the newest commits of a clone with `git log`, without a shell.
 *
 * @module
 * @internal
 */
import { execFile } from 'node:child_process';
import { readFile, realpath, stat } from 'node:fs/promises';
import { devNull } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { err, errAsync, ok, type Result, ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';

const HASH_LINE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Variables that point git at another repository, object store or history
 * than the one in `repoPath` (a process started from a git hook inherits
 * `GIT_DIR`, for one). They are dropped from git's environment.
 */
const REPOSITORY_ENV = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_COMMON_DIR',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_INDEX_FILE',
  'GIT_NAMESPACE',
  'GIT_REPLACE_REF_BASE',
  'GIT_SHALLOW_FILE',
  'GIT_IMPLICIT_WORK_TREE',
  'GIT_PREFIX',
];

/** What {@link readRecentCommits} needs. */
export interface GitLogRequest {
  readonly git: string;
  readonly repoPath: string;
  readonly window: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/**
 * Runs `git --no-replace-objects -C <repoPath> log --format=%H -n <window>` with an argument
 * array and a timeout: the hashes newest first, or `GATE_UNAVAILABLE`
 * saying why git failed. Never rejects.
 *
 * @internal
 */
export function readRecentCommits(request: GitLogRequest): ResultAsync<readonly string[], BackfillError> {
  const { git, repoPath, window, timeoutMs, signal } = request;
  // The history is the one the commit objects record: `--no-replace-objects`
  // and an empty grafts file keep replace refs and `info/grafts` from adding
  // commits that HEAD does not descend from. `--no-show-signature` keeps a
  // `log.showSignature` config from mixing GPG output into the list;
  // `HEAD --` stops a ref or path from being guessed.
  const args = ['--no-replace-objects', '-C', repoPath, 'log', '--no-show-signature', '--format=%H', '-n', String(window), 'HEAD', '--'];
  const context = { path: repoPath, git };
  if (signal.aborted)
    return errAsync(new BackfillError('GATE_UNAVAILABLE', 'The commit refresh was cancelled because the gate was closed.', { context }));
  const failed = (error: NonNullable<GitRun['error']>, stderr: string): Result<never, BackfillError> =>
    err(new BackfillError('GATE_UNAVAILABLE', describeFailure(error, stderr, git, repoPath, timeoutMs), { cause: error, context }));
  return new ResultAsync(
    (async (): Promise<Result<readonly string[], BackfillError>> => {
      const { env, real, bounded } = await gitEnvironment(repoPath);
      const options = { timeout: timeoutMs, signal, env };
      if (!bounded) {
        // No ceiling could be set: make sure the repository git finds is repoPath itself, not one above it.
        const found = await runGit(git, ['--no-replace-objects', '-C', repoPath, ...FOUND_REPOSITORY], options);
        if (found.error) return failed(found.error, found.stderr);
        const above = repositoryAbove(found.stdout, real);
        if (above !== undefined) {
          const message = `git log in ${repoPath} found no repository there, only the one at ${above} above it. Check \`repoPath\`: the top directory of the clone (or a bare repository).`;
          return err(new BackfillError('GATE_UNAVAILABLE', message, { context }));
        }
      }
      const run = await runGit(git, args, { ...options, maxBuffer: Math.max(1 << 20, window * 72) });
      return run.error ? failed(run.error, run.stderr) : parseHashes(run.stdout, repoPath, context);
    })(),
  );
}

/** What one git run gave. */
interface GitRun {
  readonly error: (Error & { code?: unknown; killed?: boolean; signal?: unknown; syscall?: unknown }) | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs git without a shell, killed after `timeout` ms or when `signal` fires; never rejects. */
function runGit(
  git: string,
  args: readonly string[],
  options: { readonly timeout: number; readonly signal: AbortSignal; readonly env: NodeJS.ProcessEnv; readonly maxBuffer?: number },
): Promise<GitRun> {
  return new Promise((resolve) => {
    try {
      execFile(git, args, { ...options, killSignal: 'SIGKILL', windowsHide: true, encoding: 'utf8' }, (error, stdout, stderr) =>
        resolve({ error, stdout, stderr }),
      );
    } catch (error) {
      // Node throws a failure to spawn, rather than passing it to the callback, for every reason
      // but a few (ENOENT, EACCES, EAGAIN, EMFILE, ENFILE): ENOTDIR (a path through a regular file), ELOOP, ….
      resolve({ error: error as NonNullable<GitRun['error']>, stdout: '', stderr: '' });
    }
  });
}

/** `git rev-parse` arguments that say where the repository git found lies, relative to the directory it started in. */
const FOUND_REPOSITORY = ['rev-parse', '--absolute-git-dir', '--is-inside-work-tree', '--show-prefix'];

/**
 * From the output of {@link FOUND_REPOSITORY} run in `real`: undefined when
 * the repository is `real` itself (its git directory, as a bare repository,
 * or the top of its work tree), else the git directory git found above it.
 */
function repositoryAbove(stdout: string, real: string): string | undefined {
  const [gitDir = '', insideWorkTree, prefix = ''] = stdout.split('\n');
  return gitDir === real || (insideWorkTree === 'true' && prefix === '') ? undefined : gitDir;
}

/**
 * Whether the clone at `repoPath` is shallow (`git rev-parse
 * --is-shallow-repository`), run as {@link readRecentCommits} runs git.
 * A shallow clone's history stops at its cut, so a commit older than the
 * cut is unknown to it however recent. False when git cannot tell.
 *
 * @internal
 */
export async function isShallowClone(request: Omit<GitLogRequest, 'window'>): Promise<boolean> {
  const { git, repoPath, timeoutMs, signal } = request;
  const { env } = await gitEnvironment(repoPath);
  const args = ['--no-replace-objects', '-C', repoPath, 'rev-parse', '--is-shallow-repository'];
  const { error, stdout } = await runGit(git, args, { timeout: timeoutMs, signal, env });
  return error === null && stdout.trim() === 'true';
}

/**
 * Whether the repository at `repoPath` (a work tree, a linked worktree or a
 * bare repository, as git finds it with the ceiling {@link gitEnvironment}
 * sets) has a `shallow` file, read from the file system without starting
 * git. False when it cannot tell.
 *
 * @internal
 */
export async function hasShallowFile(repoPath: string): Promise<boolean> {
  const dotGit = join(repoPath, '.git');
  const pointer = await readFile(dotGit, 'utf8').catch(() => undefined);
  // A linked worktree's `.git` file names its git dir; a bare repository is its own git dir.
  const gitDirs = pointer?.startsWith('gitdir: ') ? [resolve(repoPath, pointer.slice(8).trim())] : [dotGit, repoPath];
  for (const gitDir of gitDirs) {
    // `shallow` lives in the common dir, which a linked worktree's `commondir` names.
    const common = await readFile(join(gitDir, 'commondir'), 'utf8').catch(() => undefined);
    const shallow = join(common === undefined ? gitDir : resolve(gitDir, common.trim()), 'shallow');
    if (
      await stat(shallow).then(
        (s) => s.isFile() && s.size > 0,
        () => false,
      )
    )
      return true;
  }
  return false;
}

function parseHashes(stdout: string, repoPath: string, context: Record<string, string>): Result<readonly string[], BackfillError> {
  const hashes = stdout.split('\n').filter((line) => line !== '');
  const bad = hashes.find((line) => !HASH_LINE.test(line));
  if (hashes.length > 0 && bad === undefined) return ok(hashes);
  // git log exits 0 without a line when HEAD peels to a tree or a blob (a symbolic HEAD on a tag of one).
  const message =
    bad === undefined
      ? `git log in ${repoPath} printed no commits: its HEAD is not a commit (a tag of a tree or a blob?); check out a branch there.`
      : `git log in ${repoPath} printed an unexpected line ${JSON.stringify(bad.slice(0, 80))}; expected one commit hash per line.`;
  return err(new BackfillError('GATE_UNAVAILABLE', message, { context }));
}

/** git's environment for a run in `repoPath`, the real path of `repoPath`, and whether a ceiling stops git's search at it. */
interface GitEnvironment {
  readonly env: NodeJS.ProcessEnv;
  readonly real: string;
  /**
   * False when the parent of `repoPath` holds the list separator (`:`):
   * `GIT_CEILING_DIRECTORIES` has no way to name it, so git may find a
   * repository above `repoPath`, and the caller must check where it is.
   */
  readonly bounded: boolean;
}

/**
 * git's environment: no variable that names another repository, no grafts
 * file, and a ceiling at the parent of `repoPath` so that a `repoPath` that
 * is not a repository (a clone removed for a fresh one) is an error instead
 * of git finding a repository above it.
 */
async function gitEnvironment(repoPath: string): Promise<GitEnvironment> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of REPOSITORY_ENV) delete env[name];
  delete env['GIT_CEILING_DIRECTORIES'];
  // git compares the ceiling with its resolved working directory, so a
  // `repoPath` given through a link needs the parent of its target.
  const real = await realpath(repoPath).catch(() => repoPath);
  const ceiling = dirname(real);
  const bounded = !ceiling.includes(delimiter);
  return {
    env: {
      ...env,
      ...(bounded ? { GIT_CEILING_DIRECTORIES: ceiling } : {}),
      GIT_GRAFT_FILE: devNull,
      GIT_TERMINAL_PROMPT: '0',
      GIT_OPTIONAL_LOCKS: '0',
      LC_ALL: 'C',
    },
    real,
    bounded,
  };
}

function describeFailure(
  error: Error & { code?: unknown; killed?: boolean; signal?: unknown; syscall?: unknown },
  stderr: string,
  git: string,
  repoPath: string,
  timeoutMs: number,
): string {
  if (error.name === 'AbortError') return 'The commit refresh was cancelled because the gate was closed.';
  if (error.code === 'ENOENT') return `Could not run git (\`${git}\`): not found. Install git or set the \`git\` option.`;
  if (error.syscall === 'spawn') return `Could not run git (\`${git}\`): ${error.message}. Install git or set the \`git\` option.`;
  if (error.killed === true && error.signal === 'SIGKILL')
    return `git log in ${repoPath} did not finish within ${timeoutMs} ms and was killed.`;
  const firstLine = stderr.trim().split('\n')[0] ?? '';
  return `git log in ${repoPath} failed${firstLine === '' ? '' : `: ${firstLine}`}. Check \`repoPath\`: the top directory of the clone (or a bare repository), and git's safe.directory when another user owns the clone.`;
}
