/**
 * The CLI without the process around it: finds the subcommand, parses its
 * flags, runs it, prints the report or the error, and returns the exit
 * status. `main.ts` hands it argv and the real streams.
 *
 * @module
 */
import type pg from 'pg';
import { err, ok, safeTry, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import {
  commandHelp,
  didYouMean,
  failed,
  parseCommand,
  switchValueRefused,
  type CommandContext,
  type CommandGroups,
  type CommandOutcome,
  type CommandSpec,
} from './command.js';
import type { Env } from './env.js';
import { EXIT_CODES } from './exit-codes.js';
import type { Logger } from '../_internals/logger.js';
import { fixOf, formatError, printable, stderrLogger, toJson, type TextSink } from './output.js';
import { createProgressFactory, type ProgressStream } from './progress.js';
import { sslPool } from './pg-ssl.js';
import { secretScrubber } from './secrets.js';
import { cliPgConnection } from './pg-connection.js';
import { passwordFileSetting } from './pgpass.js';
import { clientConnectingWithin } from '../_internals/pg.js';

/** The process the CLI runs in, injectable for tests. */
export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: ProgressStream;
  readonly env: Env;
  readonly cwd: string;
  /** Fires on SIGINT, SIGTERM and SIGHUP. */
  readonly signal: AbortSignal;
  readonly version: string;
  /** Told the command (`group name`) as soon as it is found, before it runs: a process that quits before answering names it too. */
  readonly onCommand?: (command: string) => void;
}

const PROGRESS_VAR = 'BACKFILL_KIT_PROGRESS_INTERVAL';
const DEFAULT_PROGRESS_SECONDS = 5;

/**
 * `BACKFILL_KIT_PROGRESS_INTERVAL`: seconds between progress log lines when
 * stderr is not a TTY, written as decimal digits (`5`, `0.5`). Any other
 * value (`0x10`, `1e3`, `abc`, `0`) keeps the default with a warning: it
 * only paces the logs, so it does not stop the run.
 */
function progressSeconds(env: Env, logger: Logger): number {
  const text = env[PROGRESS_VAR] ?? '';
  const seconds = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : Number.NaN;
  if (seconds > 0) return seconds;
  if (text !== '')
    logger.warn(
      `${PROGRESS_VAR} must be a number of seconds above 0 such as 5 or 0.5, not ${JSON.stringify(text)}; using ${DEFAULT_PROGRESS_SECONDS}.`,
    );
  return DEFAULT_PROGRESS_SECONDS;
}

function rootHelp(commands: readonly CommandSpec[]): string {
  const groups = new Map<string, CommandSpec[]>();
  for (const c of commands) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  const lines = [
    'Usage: backfill-kit <group> <command> [args] [flags]',
    '',
    'Runs the backfill runbooks as one command each: dataset tarballs, checksums,',
    'staging imports and rollbacks, partitions, statement replays, index rebuilds',
    'and the version gate. `backfill-kit <group> <command> --help` lists every flag.',
    '',
    'Commands:',
  ];
  for (const [, cmds] of groups) {
    for (const c of cmds) lines.push(`  ${`${c.group} ${c.name}`.padEnd(22)}${c.summary}`);
  }
  lines.push(
    '',
    'Environment: PGURI, CONCELIER_PG_URI, PG_DSN (URL or Host=…;Database=… form), the libpq PG*',
    'variables, PGSCHEMA (default lnm_raw), DRY_RUN, LINKSETS_TABLE, CHUNKS_TABLE;',
    'PGCONNECT_TIMEOUT: seconds a database connection may take (default 30; 0 waits forever);',
    'BACKFILL_KIT_PROGRESS_INTERVAL: seconds between progress lines when stderr is not a terminal (default 5).',
    '',
    'Exit status:',
    ...Object.values(EXIT_CODES).map((e) => `  ${String(e.code).padStart(3)}  ${e.meaning}`),
  );
  return `${lines.join('\n')}\n`;
}

function groupHelp(group: string, commands: readonly CommandSpec[]): string {
  const lines = [`Usage: backfill-kit ${group} <command> [args] [flags]`, '', 'Commands:'];
  for (const c of commands) lines.push(`  ${c.name.padEnd(12)}${c.summary}`);
  lines.push('', `Run \`backfill-kit ${group} <command> --help\` for its flags.`);
  return `${lines.join('\n')}\n`;
}

/** Why `flag`, written before the group, is refused: a global flag with a value it does not take, or a flag that belongs after the command. */
function unknownLeadingFlag(flag: string): string {
  const global = /^--(json|debug|quiet|help)=|^-(h)=/.exec(flag);
  const name = global?.[1] ?? (global?.[2] === undefined ? undefined : 'help');
  return name === undefined ? `unknown flag ${flag}; put flags after the command.` : `${switchValueRefused(name, flag)}.`;
}

/** Whether `word`, in place of a group or command, asks for help: `help`, `--help`, `-h`, or either flag `=true` / `=false` (which asks for nothing else either). */
function asksForHelp(word: string | undefined): boolean {
  return word === undefined || word === 'help' || /^(?:--help|-h)(?:=(?:true|false))?$/.test(word);
}

function findCommand(
  commands: readonly CommandSpec[],
  argv: readonly string[],
): Result<{ spec: CommandSpec; rest: readonly string[] }, { help: string; error?: BackfillError }> {
  const [group, name, ...rest] = argv;
  const inGroup = commands.filter((c) => c.group === group);
  if (group === undefined || group === 'help' || group.startsWith('-')) {
    const wantsHelp = asksForHelp(group);
    return err({
      help: rootHelp(commands),
      ...(wantsHelp
        ? {}
        : {
            error: new BackfillError(
              'INVALID_ARGUMENT',
              group === '--' ? '`--` ends the flags: put it after the group and command.' : unknownLeadingFlag(group ?? ''),
            ),
          }),
    });
  }
  if (inGroup.length === 0) {
    const hint = didYouMean(
      group,
      commands.map((c) => c.group),
    );
    return err({
      help: rootHelp(commands),
      error: new BackfillError('INVALID_ARGUMENT', `unknown command group ${JSON.stringify(group)}.${hint}`),
    });
  }
  const spec = inGroup.find((c) => c.name === name);
  if (spec === undefined) {
    const wantsHelp = asksForHelp(name);
    return err({
      help: groupHelp(group, inGroup),
      ...(wantsHelp
        ? {}
        : {
            error: new BackfillError(
              'INVALID_ARGUMENT',
              `unknown command ${JSON.stringify(`${group} ${name ?? ''}`)}.${didYouMean(
                name ?? '',
                inGroup.map((c) => c.name),
                `${group} `,
              )}`,
            ),
          }),
    });
  }
  return ok({ spec, rest });
}

/** Global flags that may also come before the group (`backfill-kit --json checksums verify …`), in each spelling a command takes. */
const HOISTABLE = /^--(?:no-)?(?:json|debug|quiet)$|^--(?:json|debug|quiet)=(?:true|false)$/;

/**
 * Whether the last of `--flag`, `--no-flag` and `--flag=…` in `words` turns
 * `flag` on: `--flag=` with any value but `false` asks for it, so that the
 * usage error refusing a value such as `--json=yes` still comes as JSON.
 */
function turnedOn(words: readonly string[], flag: string): boolean {
  let on = false;
  for (const word of words) {
    if (word === `--no-${flag}` || word === `--${flag}=false`) on = false;
    else if (word === `--${flag}` || word.startsWith(`--${flag}=`)) on = true;
  }
  return on;
}

/**
 * Finds the group and command (the first two words that are not global
 * flags), moves global flags written around them to after them, and tells
 * whether `--json` and `--debug` are on ({@link turnedOn};
 * nothing after `--` counts), so that even an invocation that never
 * reaches a command answers in the form it asked for.
 */
function readGlobalFlags(argv: readonly string[]): { args: readonly string[]; json: boolean; debug: boolean } {
  const words: string[] = [];
  const moved: string[] = [];
  let i = 0;
  for (; i < argv.length && words.length < 2 && argv[i] !== '--'; i++) {
    const arg = argv[i] as string;
    (HOISTABLE.test(arg) ? moved : words).push(arg);
  }
  const end = argv.indexOf('--');
  const flags = end < 0 ? argv : argv.slice(0, end);
  // Without a command there is nothing to hand the flags to; they only choose the output form. What follows
  // a `--` stays, so that a command named after it is refused rather than answered with help (exit 0).
  const args = words.length < 2 ? [...words, ...argv.slice(i)] : [...words, ...moved, ...argv.slice(i)];
  return { args, json: turnedOn(flags, 'json'), debug: turnedOn(flags, 'debug') };
}

/** How one invocation ended, before it is printed as text or as the `--json` object. */
interface Finished {
  /** `group name`, or `null` when no command was found. */
  readonly command: string | null;
  readonly exitCode: number;
  readonly report: unknown;
  readonly error?: BackfillError;
  /** What text mode prints on stdout (help, the report's lines). */
  readonly text?: string;
  /** Help printed on stderr after a usage error, in text mode. */
  readonly usage?: string;
}

/**
 * Runs one CLI invocation and returns its exit status. Never throws: an
 * unexpected exception is printed (with its stack under `--debug`) and
 * exits with `INTERNAL`. With `--json` (anywhere before `--`, even before
 * the group), stdout receives exactly one JSON object
 * `{ command, ok, exitCode, error, report }` on every exit: usage errors,
 * `--help` (`report.help`) and `--version` (`report.version`) included.
 */
export async function runCli(argv: readonly string[], groups: CommandGroups, given: CliIo): Promise<number> {
  const io = maskingPasswords(given, argv);
  const globals = readGlobalFlags(argv);
  const finished = await dispatch(globals.args, groups, io, globals.debug);
  if (globals.json) {
    io.stdout.write(jsonDocument(finished));
  } else if (finished.text !== undefined && finished.text !== '') {
    io.stdout.write(finished.text);
  }
  if (finished.error !== undefined) io.stderr.write(formatError(finished.error, globals.debug));
  if (!globals.json && finished.usage !== undefined) io.stderr.write(`\n${finished.usage}`);
  return finished.exitCode;
}

/**
 * `io` with every password typed on the command line masked in what it
 * prints: usage errors quote what was typed (`--pg` given twice, a URL
 * where a count belongs), `--debug` logs name the database.
 */
function maskingPasswords(io: CliIo, argv: readonly string[]): CliIo {
  const mask = secretScrubber(argv, printable);
  const { stdout, stderr } = io;
  return {
    ...io,
    stdout: { write: (text) => stdout.write(mask(text)) },
    stderr: {
      write: (text) => stderr.write(mask(text)),
      get isTTY() {
        return stderr.isTTY;
      },
      get columns() {
        return stderr.columns;
      },
    },
  };
}

function jsonDocument({ command, exitCode, error, report }: Finished): string {
  return toJson({ command, ok: exitCode === EXIT_CODES.OK.code, exitCode, error: error === undefined ? null : errorJson(error), report });
}

/**
 * The error as `--json` prints it, with the fix the text output prints:
 * what it finished is the document's `report` (see `failed`), so it is not
 * repeated here.
 */
function errorJson(error: BackfillError): Omit<ReturnType<BackfillError['toJSON']>, 'partial'> & { fix: string } {
  const { partial: _inReport, ...rest } = error.toJSON();
  return { ...rest, fix: fixOf(error) };
}

/**
 * The `--json` object for a process that quits before {@link runCli}
 * answers (a second SIGINT), or `undefined` when `argv` did not ask for JSON.
 * `command` is the one {@link CliIo.onCommand} was told, if any.
 */
export function interruptedJson(argv: readonly string[], command: string | null = null): string | undefined {
  return failureJson(argv, new BackfillError('ABORTED', 'Interrupted twice; the process quit at once.'), EXIT_CODES.ABORTED.code, command);
}

/**
 * The `--json` object for a process that stops before {@link runCli} runs
 * or answers (an interrupt, a Node.js too old), or `undefined` when `argv`
 * did not ask for JSON.
 */
export function failureJson(
  argv: readonly string[],
  error: BackfillError,
  exitCode: number,
  command: string | null = null,
): string | undefined {
  return readGlobalFlags(argv).json ? jsonDocument({ command, exitCode, report: null, error }) : undefined;
}

/** The commands of the group `word` names, or of every group (for help and did-you-mean) when it names none. */
async function commandsFor(groups: CommandGroups, word: string | undefined): Promise<readonly CommandSpec[]> {
  const named = word === undefined || !Object.hasOwn(groups, word) ? undefined : groups[word];
  const loads = named === undefined ? Object.values(groups) : [named];
  return (await Promise.all(loads.map((load) => load()))).flat();
}

/** Prints an unexpected exception (a bug) and returns the `INTERNAL` outcome. */
function internalError(thrown: unknown, io: CliIo, debug: boolean): CommandOutcome {
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  io.stderr.write(`error INTERNAL: ${message}\n  fix:     This is a bug; rerun with --debug and report the output.\n`);
  if (debug && thrown instanceof Error) io.stderr.write(`${thrown.stack ?? ''}\n`);
  return { exitCode: EXIT_CODES.INTERNAL.code, report: { internalError: message }, lines: [] };
}

async function dispatch(argv: readonly string[], groups: CommandGroups, io: CliIo, debugAsked: boolean): Promise<Finished> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    return { command: null, exitCode: EXIT_CODES.OK.code, report: { version: io.version }, text: `${io.version}\n` };
  }
  let commands: readonly CommandSpec[];
  try {
    commands = await commandsFor(groups, argv[0]);
  } catch (thrown) {
    const { exitCode, report } = internalError(thrown, io, debugAsked);
    return { command: null, exitCode, report };
  }
  const found = findCommand(commands, argv);
  if (found.isErr()) {
    const { help, error } = found.error;
    const command = argv[0] !== undefined && commands.some((c) => c.group === argv[0]) ? argv[0] : null;
    if (error === undefined) return { command, exitCode: EXIT_CODES.OK.code, report: { help }, text: help };
    return { command, exitCode: EXIT_CODES.USAGE.code, report: null, error, usage: help };
  }
  const { spec, rest } = found.value;
  const command = `${spec.group} ${spec.name}`;
  io.onCommand?.(command);
  const parsed = parseCommand(spec, rest, io.env);
  if (parsed.isErr()) return { command, exitCode: EXIT_CODES.USAGE.code, report: null, error: parsed.error };
  const { flags, positionals } = parsed.value;
  if (flags['help'] === true) {
    const help = commandHelp(spec);
    return { command, exitCode: EXIT_CODES.OK.code, report: { help }, text: help };
  }
  const debug = flags['debug'] === true;
  const quiet = flags['quiet'] === true;
  // A terminal that cannot take escape sequences (TERM=dumb: an editor's shell, some CI) gets what a pipe gets.
  const tty = io.stderr.isTTY === true && io.env['TERM'] !== 'dumb';
  const logger = stderrLogger(io.stderr, { debug, quiet, tty });
  let pool: pg.Pool | undefined;
  const ctx: CommandContext = {
    flags,
    positionals,
    env: io.env,
    cwd: io.cwd,
    signal: io.signal,
    logger,
    progress: createProgressFactory({ stream: io.stderr, tty, quiet, logEverySeconds: progressSeconds(io.env, logger) }),
    pgPool(order) {
      if (pool !== undefined) return ok(pool);
      const pgFlagValue = typeof flags['pg'] === 'string' ? flags['pg'] : undefined;
      return cliPgConnection(pgFlagValue, io.env, order).map((c) => {
        logger.debug?.(`connecting to ${c.target.display} (from ${c.target.from})`);
        // Ctrl-C ends a connection attempt too: with PGCONNECT_TIMEOUT=0 (or connect_timeout=0) a server that never answers would hold it forever.
        const Client = clientConnectingWithin(c.connectTimeoutMs, c.connectTimeoutFrom, io.signal);
        // ~/.pgpass as libpq reads it (the driver's reading warns of its deprecation, and reads ./.pgpass when HOME is unset).
        const password = passwordFileSetting(c.settings, io.env, (message) => logger.warn(message));
        const config = { ...c.settings, ...password, max: 4 };
        const created = sslPool(c.sslMode, config, Client, c.connectTimeoutMs, io.signal, c.connectTimeoutFrom);
        // An idle connection dropped by the server must not crash the CLI; the next query reports it.
        created.on('error', (e) => logger.debug?.(`idle connection error: ${e.message}`));
        pool = created;
        return created;
      });
    },
  };
  let outcome: CommandOutcome;
  const body = spec.run(ctx);
  try {
    const ran = await safeTry(async function* () {
      return ok(yield* body);
    });
    outcome = ran.isOk() ? ran.value : failed(ran.error);
    // safeTry stops at the first Err without closing the body; closing it runs the body's `finally` and `await using` cleanups.
    await body.return(outcome);
  } catch (thrown) {
    // Node system errors (ENOENT, EACCES, …) are I/O problems; anything else unexpected is a bug.
    const systemCode = (thrown as { code?: unknown } | null)?.code;
    const error = typeof systemCode === 'string' && /^E[A-Z]+$/.test(systemCode) ? toBackfillError(thrown, 'IO_ERROR') : undefined;
    outcome = error === undefined ? internalError(thrown, io, debug) : failed(error);
  } finally {
    if (pool !== undefined) await pool.end().catch(() => undefined);
  }
  return {
    command,
    exitCode: outcome.exitCode,
    report: outcome.report,
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
    text: outcome.lines.length > 0 ? `${outcome.lines.map(printable).join('\n')}\n` : '',
  };
}
