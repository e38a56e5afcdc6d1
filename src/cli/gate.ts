/**
 * `backfill-kit gate check`: would the receiver's version gate
 * accept this commit? The same answer, status and remediation a shipper gets.
 *
 * @module
 */
import { resolve } from 'node:path';
import { BackfillError } from '../errors.js';
import { DEFAULT_GATE_GIT, DEFAULT_GATE_GIT_TIMEOUT_MS, DEFAULT_GATE_WINDOW, MAX_GATE_WINDOW, VersionGate } from '../version-gate/index.js';
import { inspectCommit } from '../version-gate/commit-hash.js';
import { isShallowClone } from '../version-gate/git-log.js';
import { failed, intFlag, stringFlag, type CommandSpec } from './command.js';
import { EXIT_CODES } from './exit-codes.js';

const DEFAULT_REMEDIATION = 'git pull origin main';

/**
 * The gate could not list the commits of `--repo`. For a receiver that is a
 * 503 to retry; here it is the command's configuration, so it must not
 * exit 7, which says the commit was refused.
 */
function unreadableRepo(repoPath: string, error: BackfillError): BackfillError {
  if (
    error.cause instanceof Error &&
    (error.cause as NodeJS.ErrnoException).code === 'ENOENT' &&
    /^Could not run git/.test(error.message)
  ) {
    return new BackfillError('INVALID_ARGUMENT', 'Could not run git: not found on PATH. Install git, or run with a PATH that has it.', {
      cause: error,
      context: error.context,
    });
  }
  const why = error.message.replace(/ Check `repoPath`.*$/s, '');
  return new BackfillError(
    'INVALID_ARGUMENT',
    `--repo ${repoPath} gave no commits to check against: ${why} Give --repo the top directory of a git clone (or a bare repository) this user can read; if another user owns it, add it to git's safe.directory.`,
    { cause: error, context: error.context },
  );
}

/** The gate's configuration error about its `remediation` option, worded for --remediation. */
function badRemediation(error: BackfillError): BackfillError {
  return new BackfillError(
    'INVALID_ARGUMENT',
    '--remediation must be a shell line that is not blank, without control characters other than tabs (give --remediation once per line).',
    { cause: error },
  );
}

const check: CommandSpec = {
  group: 'gate',
  name: 'check',
  summary:
    'Check a commit against the last N commits of a git clone, as the receiver gate does (exit 7 with the remediation when refused).',
  args: '<commit>',
  minArgs: 1,
  maxArgs: 1,
  replaces: "the receiver's X-Cis490-Code-Commit check, run by hand before shipping",
  flags: {
    repo: {
      type: 'string',
      value: '<dir>',
      description: 'The git clone whose newest commits are accepted (its top directory).',
      default: '.',
    },
    window: {
      type: 'string',
      value: '<n>',
      description: `How many of the newest commits are accepted (1 to ${MAX_GATE_WINDOW}).`,
      default: String(DEFAULT_GATE_WINDOW),
    },
    remediation: {
      type: 'string',
      value: '<text>',
      multiple: true,
      description: 'A shell line the refused host should run (repeatable), printed with a 412.',
      default: DEFAULT_REMEDIATION,
    },
  },
  examples: ['backfill-kit gate check "$(git -C /opt/cis490 rev-parse HEAD)" --repo /home/max/cis490 --window 100'],
  async *run(ctx) {
    // Most often a `$(git rev-parse HEAD)` that failed: a usage error, not a refusal (exit 7) whose remediation would pull.
    if (ctx.positionals[0]!.trim() === '') {
      return failed(
        new BackfillError(
          'INVALID_ARGUMENT',
          '<commit> is empty: give the full commit hash (did the `git rev-parse HEAD` that gave it fail?).',
        ),
      );
    }
    // A hash the gate cannot read is the argument's fault (exit 2), not a refusal: a receiver answers it 400 with the
    // remediation, but pulling would not mend a mistyped or abbreviated hash.
    const commit = inspectCommit(ctx.positionals[0], '<commit>');
    if (typeof commit !== 'string') {
      return failed(
        new BackfillError(
          'INVALID_ARGUMENT',
          /rev-parse/.test(commit.message) ? commit.message : `${commit.message} Give the full hash that \`git rev-parse HEAD\` prints.`,
          {
            context: { commit: commit.value },
          },
        ),
      );
    }
    const window = (yield* intFlag(ctx.flags, 'window', 1, MAX_GATE_WINDOW)) ?? DEFAULT_GATE_WINDOW;
    const remediation = ctx.flags['remediation'];
    const repoPath = resolve(ctx.cwd, stringFlag(ctx.flags, 'repo') ?? '.');
    // The gate's warnings wait for the verdict: the one it gives here, a shallow clone's, is said once, by this
    // command's own error when that clone is why the commit is refused, and printed as it is with any other answer.
    const warnings: [string, Record<string, unknown> | undefined][] = [];
    const showWarnings = (): void => {
      for (const [message, fields] of warnings.splice(0)) ctx.logger.warn(message, fields);
    };
    await using gate = new VersionGate({
      repoPath,
      window,
      remediation: Array.isArray(remediation) ? remediation : typeof remediation === 'string' ? remediation : DEFAULT_REMEDIATION,
      // The one error the gate logs is a failed commit refresh, written for a receiver (`repoPath`, uploads get 503);
      // this command reports that failure itself, as its error naming --repo.
      logger: { ...ctx.logger, error: () => undefined, warn: (message, fields) => void warnings.push([message, fields]) },
    });
    // The one configuration value that can be invalid here is --remediation (--window was checked above).
    yield* (await gate.ready({ signal: ctx.signal })).mapErr((e) => {
      showWarnings();
      return e.code === 'GATE_UNAVAILABLE' ? unreadableRepo(repoPath, e) : e.code === 'INVALID_ARGUMENT' ? badRemediation(e) : e;
    });
    const verdict = gate.check(commit);
    if (verdict.isOk()) {
      showWarnings();
      const a = verdict.value;
      return {
        exitCode: EXIT_CODES.OK.code,
        report: { accepted: true, ...a, window },
        lines: [
          `accepted: ${a.commit ?? ''} is ${a.behind ?? 0} commit${a.behind === 1 ? '' : 's'} behind head ${a.headCommit ?? ''} (window ${window})`,
        ],
      };
    }
    const r = verdict.error;
    // The gate runs the default git with its default timeout here. A shallow clone knows nothing before its cut: a refusal from one holding fewer commits than the window says nothing about the commit.
    const held = gate.status().size;
    if (
      r.status === 412 &&
      held < window &&
      (await isShallowClone({ git: DEFAULT_GATE_GIT, timeoutMs: DEFAULT_GATE_GIT_TIMEOUT_MS, repoPath, signal: ctx.signal }))
    ) {
      return failed(
        new BackfillError(
          'INVALID_ARGUMENT',
          `--repo ${repoPath} is a shallow clone holding only ${held} commit${held === 1 ? '' : 's'}, fewer than --window ${window}: it cannot tell whether ${r.body.your_commit ?? 'the commit'} is among the newest ${window}. Deepen it (git -C ${repoPath} fetch --unshallow) and check again.`,
          { context: { path: repoPath } },
        ),
      );
    }
    showWarnings();
    const lines = [`refused (HTTP ${r.status}): ${r.body.message}`];
    if (r.body.head_commit !== null) lines.push(`head commit: ${r.body.head_commit}`);
    if (r.body.remediation !== null)
      lines.push('remediation (run on the out-of-date host):', ...r.body.remediation.split('\n').map((l) => `  ${l}`));
    const error = new BackfillError(r.code, r.body.message, {
      context: { status: r.status },
      partial: { accepted: false, status: r.status, body: r.body, window },
    });
    return { ...failed(error, lines), exitCode: EXIT_CODES.REFUSED.code };
  },
};

/** The `gate` subcommands. */
export const gateCommands: readonly CommandSpec[] = [check];
