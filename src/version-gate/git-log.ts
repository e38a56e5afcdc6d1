/**
 * Reads the newest commits of a clone with `git log`, without a shell.
 *
 * @module
 * @internal
 */
import { execFile } from 'node:child_process';
import { err, ok, ResultAsync, errAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';

const HASH_LINE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** What {@link readRecentCommits} needs. */
export interface GitLogRequest {
  readonly git: string;
  readonly repoPath: string;
  readonly window: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/**
 * Runs `git -C <repoPath> log --format=%H -n <window>` with an argument
 * array and a timeout: the hashes newest first, or `GATE_UNAVAILABLE`
 * saying why git failed. Never rejects.
 *
 * @internal
 */
export function readRecentCommits(request: GitLogRequest): ResultAsync<readonly string[], BackfillError> {
  const { git, repoPath, window, timeoutMs, signal } = request;
  // `--no-show-signature` keeps a `log.showSignature` config from mixing GPG
  // output into the list; `HEAD --` stops a ref or path from being guessed.
  const args = ['-C', repoPath, 'log', '--no-show-signature', '--format=%H', '-n', String(window), 'HEAD', '--'];
  const context = { path: repoPath, git };
  if (signal.aborted)
    return errAsync(new BackfillError('GATE_UNAVAILABLE', 'The commit refresh was cancelled because the gate was closed.', { context }));
  return new ResultAsync(
    new Promise((resolve) => {
      execFile(
        git,
        args,
        {
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          signal,
          maxBuffer: Math.max(1 << 20, window * 72),
          windowsHide: true,
          encoding: 'utf8',
          env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' },
        },
        (error, stdout, stderr) => {
          if (error) {
            resolve(
              err(
                new BackfillError('GATE_UNAVAILABLE', describeFailure(error, stderr, git, repoPath, timeoutMs), { cause: error, context }),
              ),
            );
            return;
          }
          const hashes = stdout.split('\n').filter((line) => line !== '');
          const bad = hashes.find((line) => !HASH_LINE.test(line));
          if (hashes.length === 0 || bad !== undefined) {
            const what = bad === undefined ? 'no commits' : `an unexpected line ${JSON.stringify(bad.slice(0, 80))}`;
            resolve(
              err(
                new BackfillError('GATE_UNAVAILABLE', `git log in ${repoPath} printed ${what}; expected one commit hash per line.`, {
                  context,
                }),
              ),
            );
            return;
          }
          resolve(ok(hashes));
        },
      );
    }),
  );
}

function describeFailure(
  error: Error & { code?: unknown; killed?: boolean; signal?: unknown },
  stderr: string,
  git: string,
  repoPath: string,
  timeoutMs: number,
): string {
  if (error.name === 'AbortError') return 'The commit refresh was cancelled because the gate was closed.';
  if (error.code === 'ENOENT') return `Could not run git (\`${git}\`): not found. Install git or set the \`git\` option.`;
  if (error.killed === true && error.signal === 'SIGKILL')
    return `git log in ${repoPath} did not finish within ${timeoutMs} ms and was killed.`;
  const firstLine = stderr.trim().split('\n')[0] ?? '';
  return `git log in ${repoPath} failed${firstLine === '' ? '' : `: ${firstLine}`}. Check \`repoPath\` (and git's safe.directory when another user owns the clone).`;
}
