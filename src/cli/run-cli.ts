/**
 * The CLI without the process around it: finds the subcommand, parses its
 * flags, runs it, prints the report or the error, and returns the exit
 * status. `main.ts` hands it argv and the real streams.
 *
 * @module
 */
import pg from 'pg';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, isBackfillError, toBackfillError } from '../errors.js';
import { pgPoolConfig } from '../_internals/pg-dsn.js';
import { commandHelp, didYouMean, parseCommand, type CommandContext, type CommandOutcome, type CommandSpec } from './command.js';
import { resolvePgTarget, type Env } from './env.js';
import { EXIT_CODES, exitCodeForError } from './exit-codes.js';
import { formatError, stderrLogger, toJson, type TextSink } from './output.js';
import { createProgressFactory, type ProgressStream } from './progress.js';

/** The process the CLI runs in, injectable for tests. */
export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: ProgressStream;
  readonly env: Env;
  readonly cwd: string;
  /** Fires on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  readonly version: string;
}

/** `BACKFILL_KIT_PROGRESS_INTERVAL`: seconds between progress log lines when stderr is not a TTY. */
function progressSeconds(env: Env): number {
  const v = Number(env['BACKFILL_KIT_PROGRESS_INTERVAL'] ?? '');
  return Number.isFinite(v) && v > 0 ? v : 5;
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

function findCommand(commands: readonly CommandSpec[], argv: readonly string[]): Result<{ spec: CommandSpec; rest: readonly string[] }, { help: string; error?: BackfillError }> {
  const [group, name, ...rest] = argv;
  const inGroup = commands.filter((c) => c.group === group);
  if (group === undefined || group === 'help' || group.startsWith('-')) {
    const wantsHelp = group === '--help' || group === '-h' || group === 'help' || group === undefined;
    return err({ help: rootHelp(commands), ...(wantsHelp ? {} : { error: new BackfillError('INVALID_ARGUMENT', `unknown flag ${group}; put flags after the command.`) }) });
  }
  if (inGroup.length === 0) {
    const hint = didYouMean(group, commands.map((c) => c.group));
    return err({ help: rootHelp(commands), error: new BackfillError('INVALID_ARGUMENT', `unknown command group ${JSON.stringify(group)}.${hint}`) });
  }
  const spec = inGroup.find((c) => c.name === name);
  if (spec === undefined) {
    const wantsHelp = name === undefined || name === '--help' || name === '-h' || name === 'help';
    return err({
      help: groupHelp(group, inGroup),
      ...(wantsHelp ? {} : { error: new BackfillError('INVALID_ARGUMENT', `unknown command ${JSON.stringify(`${group} ${name ?? ''}`)}.${didYouMean(name ?? '', inGroup.map((c) => c.name), `${group} `)}`) }),
    });
  }
  return ok({ spec, rest });
}

/**
 * Runs one CLI invocation and returns its exit status. Never throws: an
 * unexpected exception is printed (with its stack under `--debug`) and
 * exits with `INTERNAL`.
 */
export async function runCli(argv: readonly string[], commands: readonly CommandSpec[], io: CliIo): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout.write(`${io.version}\n`);
    return EXIT_CODES.OK.code;
  }
  const found = findCommand(commands, argv);
  if (found.isErr()) {
    if (found.error.error === undefined) {
      io.stdout.write(found.error.help);
      return EXIT_CODES.OK.code;
    }
    io.stderr.write(formatError(found.error.error, false));
    io.stderr.write(`\n${found.error.help}`);
    return EXIT_CODES.USAGE.code;
  }
  const { spec, rest } = found.value;
  const parsed = parseCommand(spec, rest, io.env);
  if (parsed.isErr()) {
    if (rest.includes('--json')) io.stdout.write(toJson({ command: `${spec.group} ${spec.name}`, ok: false, exitCode: EXIT_CODES.USAGE.code, error: parsed.error.toJSON(), report: null }));
    io.stderr.write(formatError(parsed.error, rest.includes('--debug')));
    return EXIT_CODES.USAGE.code;
  }
  const { flags, positionals } = parsed.value;
  const json = flags['json'] === true;
  const debug = flags['debug'] === true;
  if (flags['help'] === true) {
    io.stdout.write(commandHelp(spec));
    return EXIT_CODES.OK.code;
  }
  const quiet = flags['quiet'] === true;
  const logger = stderrLogger(io.stderr, { debug, quiet, tty: io.stderr.isTTY === true });
  let pool: pg.Pool | undefined;
  const ctx: CommandContext = {
    flags,
    positionals,
    env: io.env,
    cwd: io.cwd,
    signal: io.signal,
    logger,
    progress: createProgressFactory({ stream: io.stderr, quiet, logEverySeconds: progressSeconds(io.env) }),
    pgPool(order) {
      if (pool !== undefined) return ok(pool);
      const pgFlagValue = typeof flags['pg'] === 'string' ? flags['pg'] : undefined;
      return resolvePgTarget(pgFlagValue, io.env, order).andThen((target) => {
        // No URL: the driver reads the libpq PG* variables itself.
        const config = target.connectionString === undefined ? ok<pg.PoolConfig, BackfillError>({}) : pgPoolConfig(target.connectionString);
        return config
          .mapErr((e) => new BackfillError(e.code, `${target.from}: ${e.message}`))
          .map((settings) => {
            logger.debug?.(`connecting to ${target.display} (from ${target.from})`);
            const created = new pg.Pool({ ...settings, max: 4 });
            // An idle connection dropped by the server must not crash the CLI; the next query reports it.
            created.on('error', (e) => logger.debug?.(`idle connection error: ${e.message}`));
            pool = created;
            return created;
          });
      });
    },
  };
  let outcome: CommandOutcome;
  try {
    outcome = await spec.run(ctx);
  } catch (thrown) {
    // Node system errors (ENOENT, EACCES, …) are I/O problems; anything else unexpected is a bug.
    const systemCode = (thrown as { code?: unknown } | null)?.code;
    const error = isBackfillError(thrown) ? thrown : typeof systemCode === 'string' && /^E[A-Z]+$/.test(systemCode) ? toBackfillError(thrown, 'IO_ERROR') : undefined;
    if (error === undefined) {
      io.stderr.write(`error INTERNAL: ${thrown instanceof Error ? thrown.message : String(thrown)}\n  fix:     This is a bug; rerun with --debug and report the output.\n`);
      if (debug && thrown instanceof Error) io.stderr.write(`${thrown.stack ?? ''}\n`);
      outcome = { exitCode: EXIT_CODES.INTERNAL.code, report: { internalError: thrown instanceof Error ? thrown.message : String(thrown) }, lines: [] };
    } else {
      outcome = { exitCode: exitCodeForError(error.code), report: null, lines: [], error };
    }
  } finally {
    if (pool !== undefined) await pool.end().catch(() => undefined);
  }
  if (json) {
    io.stdout.write(toJson({ command: `${spec.group} ${spec.name}`, ok: outcome.exitCode === 0, exitCode: outcome.exitCode, error: outcome.error?.toJSON() ?? null, report: outcome.report }));
  } else if (outcome.lines.length > 0) {
    io.stdout.write(`${outcome.lines.join('\n')}\n`);
  }
  if (outcome.error !== undefined) io.stderr.write(formatError(outcome.error, debug));
  return outcome.exitCode;
}
