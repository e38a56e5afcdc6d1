/**
 * One CLI subcommand: its flags (with defaults and the environment
 * variables that stand in for them), its help text, and how its arguments
 * are parsed with `node:util` `parseArgs`.
 *
 * @module
 */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { err, ok, ResultAsync, type Err, type Result } from 'neverthrow';
import type pg from 'pg';
import { BackfillError } from '../errors.js';
import { readInstant, type InstantProblem } from '../_internals/instant.js';
import { MAX_LOCK_TIMEOUT_MS } from '../_internals/milliseconds.js';
import type { Logger } from '../_internals/logger.js';
import { envTurnsOn, type Env } from './env.js';
import { exitCodeForError } from './exit-codes.js';
import type { ProgressFactory } from './progress.js';

/** One flag of a subcommand. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** Value placeholder in `--help`, e.g. `<n>`. */
  readonly value?: string;
  /** Used when neither the flag nor its `env` variable is given; shown in `--help`. */
  readonly default?: string | boolean;
  /** The default as `--help` describes it, when it is computed rather than fixed. */
  readonly defaultText?: string;
  /** Environment variable read when the flag is absent; for a boolean flag it can only turn the flag on (see `envTurnsOn`). */
  readonly env?: string;
  /** The flag may be given several times (strings only). */
  readonly multiple?: boolean;
  readonly short?: string;
}

/** Flag values after the command line, the environment and the defaults were merged. */
export type FlagValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

/** What a subcommand produced. */
export interface CommandOutcome {
  /** The exit status (see `exit-codes.ts`); 0 only for full success. */
  readonly exitCode: number;
  /** The machine-readable report printed by `--json`. */
  readonly report: unknown;
  /** Human-readable lines printed to stdout otherwise. */
  readonly lines: readonly string[];
  /** The error that ended the run, if any (printed with its code and fix). */
  readonly error?: BackfillError;
}

/** What a subcommand gets to work with. */
export interface CommandContext {
  readonly flags: FlagValues;
  readonly positionals: readonly string[];
  readonly env: Env;
  readonly cwd: string;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly progress: ProgressFactory;
  /** A pool on the configured database (created on first use, ended by the CLI). */
  pgPool(order: readonly string[]): Result<pg.Pool, BackfillError>;
}

/** A subcommand such as `dataset import`. */
export interface CommandSpec {
  readonly group: string;
  readonly name: string;
  readonly summary: string;
  /** Positional arguments for the usage line, e.g. `<tarball>`. */
  readonly args: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  /** The runbook step this replaces. */
  readonly replaces: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  readonly examples: readonly string[];
  /** Yields the error that stops it (`const x = yield* step()`, driven by `safeTry`), or returns the outcome. */
  run(ctx: CommandContext): CommandRun;
}

/**
 * The commands of the CLI by group name, each group's module imported
 * only when it is used (its key must be its commands' `group`).
 */
export type CommandGroups = Readonly<Record<string, () => Promise<readonly CommandSpec[]>>>;

/** A subcommand's body: `yield*` on a `Result` or `ResultAsync` stops it with that error (a usage error, an unreadable file). */
export type CommandRun = AsyncGenerator<Err<never, BackfillError>, CommandOutcome>;

/** Flags every subcommand accepts. */
export const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  json: { type: 'boolean', description: 'Print the machine-readable JSON report on stdout instead of text.', default: false },
  debug: { type: 'boolean', description: 'Print stack traces and causes with errors, and debug logs.', default: false },
  quiet: { type: 'boolean', description: 'No progress output and no logs on stderr.', default: false },
  help: { type: 'boolean', short: 'h', description: 'Show this help.', default: false },
};

/** The `--pg` flag of every command that talks to PostgreSQL. */
export function pgFlag(vars: readonly string[]): FlagSpec {
  return {
    type: 'string',
    value: '<url|dsn>',
    description: `PostgreSQL to use: a postgres:// URL or Host=…;Database=…;Username=…;Password=…. Otherwise ${vars.join(', ')}, then the libpq PG* variables.`,
  };
}

/** A parsed command line for one subcommand. */
export interface ParsedCommand {
  readonly flags: FlagValues;
  readonly positionals: readonly string[];
}

function usageError(spec: CommandSpec, message: string): BackfillError {
  return new BackfillError('INVALID_ARGUMENT', `${message} (see: backfill-kit ${spec.group} ${spec.name} --help)`);
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate a mistyped `input` most likely meant, as " Did you mean X?"
 * (empty when none is close): within one edit per three letters, or the only
 * candidate that starts with it, or the longest that `input` starts with up
 * to a hyphen (`--pg-url` for `--pg`).
 */
export function didYouMean(input: string, candidates: readonly string[], prefix = ''): string {
  const word = input.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of new Set(candidates)) {
    const distance = editDistance(word, name.toLowerCase());
    if (distance <= Math.max(1, Math.floor(name.length / 3)) && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  const starting = [...new Set(candidates)].filter((c) => word.length > 0 && c.startsWith(word));
  const within = [...new Set(candidates)].filter((c) => word.startsWith(`${c.toLowerCase()}-`)).sort((a, b) => b.length - a.length);
  const guess = best?.name ?? (starting.length === 1 ? starting[0] : within[0]);
  return guess === undefined ? '' : ` Did you mean ${prefix}${guess}?`;
}

/** The part of a `parseArgs` token {@link unclearValue} reads. */
type FlagToken = {
  readonly kind: string;
  readonly name?: string;
  readonly rawName?: string;
  readonly value?: string | undefined;
};

/** Switches whose last spelling wins (`--json … --no-json`): they only choose how the run is reported. */
const OUTPUT_SWITCHES = new Set(Object.keys(GLOBAL_FLAGS));

/**
 * How a value that says nothing is described (`is empty`, `is blank (" ")`), or undefined for
 * any other: empty, or only whitespace (a stray quote, a variable holding a blank).
 */
function saysNothing(value: string): string | undefined {
  if (value === '') return 'is empty';
  return value.trim() === '' ? `is blank (${JSON.stringify(value)})` : undefined;
}

/**
 * Why a flag's value does not say what to use, or undefined: an empty or
 * blank value (a script's unset variable, which would otherwise fall back
 * to the environment or the working directory; a blank would name a file
 * called " "), a single-valued flag given
 * twice with different values, or a command switch given both on and off
 * (`--dry-run … --no-dry-run`); parseArgs would keep the last one silently.
 */
function unclearValue(tokens: readonly FlagToken[], flags: Readonly<Record<string, FlagSpec>>): string | undefined {
  const seen = new Map<string, string>();
  for (const { kind, name, rawName, value } of tokens) {
    if (kind !== 'option' || name === undefined) continue;
    if (value === undefined) {
      if (flags[name]?.type !== 'boolean' || OUTPUT_SWITCHES.has(name)) continue;
      const spelled = rawName?.startsWith('--no-') === true ? `--no-${name}` : `--${name}`;
      const before = seen.get(name);
      if (before !== undefined && before !== spelled) return `--${name} and --no-${name} are both given: give one`;
      seen.set(name, spelled);
      continue;
    }
    const nothing = saysNothing(value);
    if (nothing !== undefined) return `--${name} ${nothing}: give it a value, or leave it out`;
    if (flags[name]?.multiple === true) continue;
    const before = seen.get(name);
    if (before !== undefined && before !== value)
      return `--${name} is given twice, as ${JSON.stringify(before)} and ${JSON.stringify(value)}: give it once`;
    seen.set(name, value);
  }
  return undefined;
}

/** Why `arg`, boolean flag `name` given a value other than true or false, is refused. */
export function switchValueRefused(name: string, arg: string): string {
  return `--${name} is on or off: write --${name} or --no-${name} (--${name}=true and --${name}=false also work), not ${JSON.stringify(arg)}`;
}

/**
 * The flags of `argv` (those before `--`) with `--x=true` / `--x=false` of
 * a boolean flag written as `--x` / `--no-x`, the spellings parseArgs
 * reads; any other value of a boolean flag is a usage error saying what to write.
 */
function spellSwitches(
  spec: CommandSpec,
  argv: readonly string[],
  all: Readonly<Record<string, FlagSpec>>,
): Result<string[], BackfillError> {
  const end = argv.indexOf('--');
  const out: string[] = [];
  for (const [i, given] of argv.entries()) {
    if (end >= 0 && i >= end) {
      out.push(given);
      continue;
    }
    const dashed = lookalikeDash(given, all);
    if (dashed !== undefined) return err(usageError(spec, dashed));
    // `-h=true` is read as its long name (parseArgs would read the short group `-h -= -t -r …`).
    const short = /^-([^-=])=(.*)$/s.exec(given);
    const long = short === null ? undefined : Object.keys(all).find((n) => all[n]?.short === short[1]);
    if (short !== null && long === undefined) return err(usageError(spec, `unknown flag -${short[1]} in ${JSON.stringify(given)}`));
    const arg = short === null ? given : `--${long}=${short[2]}`;
    const [, name = '', value] = /^--([^=]+)=(.*)$/s.exec(arg) ?? [];
    if (value === undefined || all[name]?.type !== 'boolean') out.push(arg);
    else if (value === 'true' || value === 'false') out.push(value === 'true' ? `--${name}` : `--no-${name}`);
    else return err(usageError(spec, switchValueRefused(name, given)));
  }
  return ok(out);
}

/** Dashes a keyboard, a word processor or a chat program puts where `-` was meant: hyphen, en and em dash, minus sign, … */
const DASH_LOOKALIKES = /^[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+/;

/**
 * Why `arg`, which starts with a dash that is not `-` (`–json` after a
 * word processor's autocorrect), is refused, or undefined. Taken as it is,
 * it would be a positional: the file `dataset build` writes, the tarball
 * a command reads. After `--` such a word is an ordinary argument.
 */
function lookalikeDash(arg: string, all: Readonly<Record<string, FlagSpec>>): string | undefined {
  const dashes = DASH_LOOKALIKES.exec(arg)?.[0];
  if (dashes === undefined || !/^[a-z]/i.test(arg.slice(dashes.length))) return undefined;
  const word = arg.slice(dashes.length).split('=')[0] ?? '';
  const code = `U+${dashes.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return `${JSON.stringify(arg)} starts with ${JSON.stringify(dashes)} (${code}), not a hyphen: flags start with -- typed as two hyphens (put it after -- if it is a file name).${didYouMean(word, Object.keys(all), '--')}`;
}

/**
 * The "did you mean" for unknown flag `unknown` (`--dryrun`, `--no-dryrun`), or for the word of `args` that
 * parseArgs read as the group of short flags starting with it (`-dry-run`, read as `-d -r -y …`): a long
 * flag typed with one dash, as other tools spell them.
 */
function unknownFlagProblem(unknown: string, args: readonly string[], all: Readonly<Record<string, FlagSpec>>): string {
  const names = Object.keys(all);
  if (unknown.startsWith('--')) {
    const word = unknown.slice(2).split('=')[0] ?? '';
    const switches = names.filter((n) => all[n]?.type === 'boolean');
    const hint = word.startsWith('no-') ? didYouMean(word.slice(3), switches, '--no-') : '';
    const found = hint === '' ? didYouMean(word, names, '--') : hint;
    return `unknown flag ${unknown}${found === '' ? '' : `.${found}`}`;
  }
  const end = args.indexOf('--');
  const typed = (end < 0 ? args : args.slice(0, end)).find((a) => a.startsWith(unknown) && !a.startsWith('--') && a.length > 2);
  const word = typed?.slice(1).split('=')[0] ?? '';
  const hint = word.length > 1 ? didYouMean(word, names, '--') : '';
  return hint === '' ? `unknown flag ${unknown}` : `unknown flag ${typed!.split('=')[0]}: long flags start with two dashes.${hint}`;
}

/** A `parseArgs` error in the CLI's words: the flag as typed, what to do, and a "did you mean" for an unknown one. */
function parseArgsProblem(error: unknown, all: Readonly<Record<string, FlagSpec>>, args: readonly string[]): string {
  const message = error instanceof Error ? error.message.replace(/\. To specify a positional.*$/s, '') : String(error);
  const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
  if (unknown !== undefined) return unknownFlagProblem(unknown, args, all);
  const missing = /^Option '(?:-., )?(--[^ ']+) <value>' argument missing/.exec(message)?.[1];
  if (missing !== undefined) return `${missing} needs a value`;
  // `--batch-size -1`, `--run-id -h`: parseArgs' own words take three lines.
  const ambiguous = /^Option '(?:-., )?(--[^ ']+)' argument is ambiguous/.exec(message)?.[1];
  if (ambiguous !== undefined)
    return `${ambiguous} needs a value: the word after it starts with a dash, so it reads as a flag (a value that starts with a dash is written ${ambiguous}=-…)`;
  return message;
}

/**
 * Parses the arguments after `<group> <name>`, then fills in each absent
 * flag from its environment variable, then from its default.
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[], env: Env): Result<ParsedCommand, BackfillError> {
  const all = { ...GLOBAL_FLAGS, ...spec.flags };
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, f] of Object.entries(all)) {
    options[name] = {
      type: f.type,
      ...(f.short === undefined ? {} : { short: f.short }),
      ...(f.multiple === true ? { multiple: true } : {}),
    };
  }
  let parsed: {
    values: Record<string, string | boolean | (string | boolean)[] | undefined>;
    positionals: string[];
    tokens: readonly FlagToken[];
  };
  const args = spellSwitches(spec, argv, all);
  if (args.isErr()) return err(args.error);
  try {
    parsed = parseArgs({ args: args.value, options, allowPositionals: true, allowNegative: true, strict: true, tokens: true });
  } catch (error) {
    return err(usageError(spec, parseArgsProblem(error, all, args.value)));
  }
  if (parsed.values['help'] === true) return ok({ flags: { help: true }, positionals: [] });
  const unclear = unclearValue(parsed.tokens, all);
  if (unclear !== undefined) return err(usageError(spec, unclear));
  const flags: Record<string, string | boolean | readonly string[] | undefined> = {};
  const readFromEnv: Record<string, string> = {};
  // Not enumerable: the flags stay a plain record of values, and only messages (see flagLabel) read it.
  Object.defineProperty(flags, FROM_ENV, { value: readFromEnv });
  for (const [name, f] of Object.entries(all)) {
    if (f.type === 'boolean' && f.env !== undefined) {
      const on = envTurnsOn(f.env, env);
      if (on.isErr()) return err(on.error);
      if (on.value) {
        flags[name] = true;
        continue;
      }
    }
    const given = parsed.values[name];
    if (given !== undefined) {
      if (f.type === 'string' && !f.multiple && typeof given === 'string' && given.startsWith('--')) {
        return err(usageError(spec, `--${name} needs a value, got ${JSON.stringify(given)}`));
      }
      flags[name] = Array.isArray(given) ? given.map(String) : given;
      continue;
    }
    const fromEnv = f.env === undefined || f.type === 'boolean' ? undefined : env[f.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      flags[name] = f.multiple === true ? [fromEnv] : fromEnv;
      readFromEnv[name] = f.env!;
      continue;
    }
    flags[name] = f.default;
  }
  const n = parsed.positionals.length;
  if (n < spec.minArgs) return err(usageError(spec, `missing argument: ${spec.args}`));
  if (n > spec.maxArgs) return err(usageError(spec, `unexpected argument ${JSON.stringify(parsed.positionals[spec.maxArgs])}`));
  return ok({ flags, positionals: parsed.positionals });
}

function flagLine(name: string, f: FlagSpec): [string, string] {
  const left = `${f.short === undefined ? '    ' : `-${f.short}, `}--${name}${f.type === 'string' ? ` ${f.value ?? '<value>'}` : ''}`;
  const notes: string[] = [];
  if (f.defaultText !== undefined) notes.push(`default: ${f.defaultText}`);
  else if (f.default !== undefined) notes.push(`default: ${String(f.default)}`);
  else if (f.type === 'boolean') notes.push('default: false');
  else notes.push('default: none');
  if (f.env !== undefined) notes.push(f.type === 'boolean' ? `env: ${f.env}=1 forces it on` : `env: ${f.env}`);
  if (f.type === 'boolean' && f.default === true) notes.push(`--no-${name} to turn off`);
  return [left, `${f.description} (${notes.join('; ')})`];
}

function table(rows: readonly [string, string][]): string[] {
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows.map(([l, r]) => (l.length + 2 > width ? `  ${l}\n  ${' '.repeat(width)}${r}` : `  ${l.padEnd(width)}${r}`));
}

/** The `--help` text of a subcommand: usage, every flag with its default and variable, examples. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [
    `Usage: backfill-kit ${spec.group} ${spec.name}${spec.args === '' ? '' : ` ${spec.args}`} [flags]`,
    '',
    spec.summary,
    `Replaces: ${spec.replaces}`,
    '',
    'Flags:',
    ...table(Object.entries(spec.flags).map(([n, f]) => flagLine(n, f))),
    '',
    'Global flags:',
    ...table(Object.entries(GLOBAL_FLAGS).map(([n, f]) => flagLine(n, f))),
  ];
  if (spec.examples.length > 0) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  lines.push('', 'Exit status: 0 only on full success; run `backfill-kit --help` for every code.');
  return `${lines.join('\n')}\n`;
}

/** The flags whose value came from their environment variable, by flag name (set by {@link parseCommand}). */
const FROM_ENV = Symbol('flags read from the environment');

/**
 * How a message names flag `name`: `--mtime`, or `SOURCE_DATE_EPOCH (read
 * for --mtime)` when the value came from the variable, which is what the
 * operator has to fix then.
 */
export function flagLabel(flags: FlagValues, name: string): string {
  const variable = (flags as { readonly [FROM_ENV]?: Readonly<Record<string, string>> })[FROM_ENV]?.[name];
  return variable === undefined ? `--${name}` : `${variable} (read for --${name})`;
}

/**
 * Argument `index` (a path, named `label` in messages, such as `<tarball>`) resolved against the current
 * directory, or a usage error when it is empty or blank (an unset or mistyped shell variable): `""` would
 * name the current directory itself, and `" "` a file called " ".
 */
export function pathArgument(
  ctx: Pick<CommandContext, 'positionals' | 'cwd'>,
  index: number,
  label: string,
): Result<string, BackfillError> {
  const given = ctx.positionals[index] ?? '';
  const nothing = saysNothing(given);
  return nothing === undefined
    ? ok(resolve(ctx.cwd, given))
    : err(new BackfillError('INVALID_ARGUMENT', `${label} ${nothing}: give the path (is a shell variable unset?).`));
}

/** A string flag's value (the parser guarantees the type). */
export function stringFlag(flags: FlagValues, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** A boolean flag's value. */
export function booleanFlag(flags: FlagValues, name: string): boolean {
  return flags[name] === true;
}

/** A repeatable string flag's values. */
export function listFlag(flags: FlagValues, name: string): readonly string[] {
  const v = flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** What a refused instant flag must be, by why {@link readInstant} refused it. */
const INSTANT_RULES: Readonly<Record<InstantProblem, string>> = {
  'not-iso': 'must be an ISO-8601 timestamp such as 2024-01-01T00:00:00Z (UTC unless it has an offset)',
  'no-such-time': 'is not a valid date and time',
  offset: 'has an offset outside -15:59 to +15:59',
  year: 'must be in the years 0001 to 9999 (UTC)',
};

/**
 * A flag holding an instant (`--retrieved-since`, `--now`): ISO-8601, UTC
 * unless it has an offset, whatever the host's TZ (psql prints a
 * `timestamp` without one). A fraction below the millisecond is refused: a
 * Date cannot hold it, and cut to the millisecond it would mean an earlier
 * instant than the one given.
 */
export function instantFlag(flags: FlagValues, name: string): Result<Date | undefined, BackfillError> {
  const text = stringFlag(flags, name);
  if (text === undefined) return ok(undefined);
  const refuse = (why: string) =>
    err(new BackfillError('INVALID_ARGUMENT', `${flagLabel(flags, name)} ${why}, not ${JSON.stringify(text)}.`));
  const instant = readInstant(text);
  if (instant.isErr()) return refuse(INSTANT_RULES[instant.error]);
  return instant.value.finerThanMs ? refuse('must be given to the millisecond at most') : ok(new Date(instant.value.epochMs));
}

/**
 * An integer flag in `[min, max]` (every caller's `min` is 0 or more), or
 * undefined when absent; `INVALID_ARGUMENT` otherwise. Only the ASCII
 * digits 0-9 count: `Number` would also read `0x10`, `1e3`, ` 5` and (with
 * separators dropped) `_` as 0.
 */
export function intFlag(
  flags: FlagValues,
  name: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): Result<number | undefined, BackfillError> {
  const v = stringFlag(flags, name);
  if (v === undefined) return ok(undefined);
  const digits = /^[0-9]+$/.test(v);
  const n = Number(v);
  if (!digits || !Number.isSafeInteger(n) || n < min || n > max) {
    const how = digits ? '' : ' Write it with the digits 0-9 only.';
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        `${flagLabel(flags, name)} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}.${how}`,
      ),
    );
  }
  return ok(n);
}

/** `--lock-timeout-ms`: from 1 to what PostgreSQL's `lock_timeout` takes, as the library checks it. */
export function lockTimeoutFlag(flags: FlagValues): Result<number | undefined, BackfillError> {
  return intFlag(flags, 'lock-timeout-ms', 1, MAX_LOCK_TIMEOUT_MS);
}

/** A flag that must be one of `choices`. */
export function choiceFlag<T extends string>(flags: FlagValues, name: string, choices: readonly T[]): Result<T | undefined, BackfillError> {
  const v = stringFlag(flags, name);
  if (v === undefined) return ok(undefined);
  return (choices as readonly string[]).includes(v)
    ? ok(v as T)
    : err(
        new BackfillError('INVALID_ARGUMENT', `${flagLabel(flags, name)} must be one of ${choices.join(', ')}, not ${JSON.stringify(v)}.`),
      );
}

/** Refuses any of `names` given (on the command line or from the environment) without `needs`, which they only apply with. */
export function onlyWith(flags: FlagValues, names: readonly string[], needs: string): Result<void, BackfillError> {
  const given = names.filter((name) => flags[name] !== undefined);
  if (given.length === 0) return ok(undefined);
  const list = given.map((name) => `--${name}`).join(', ');
  const [verb, them] = given.length === 1 ? ['applies', 'it'] : ['apply', 'them'];
  return err(
    new BackfillError('INVALID_ARGUMENT', `${list} ${verb} only with ${needs}: add ${needs.split(' ')[0]}, or leave ${them} out.`),
  );
}

/** A file-system step whose failure is an `IO_ERROR` naming `what` (a path, or the flag that gave it). */
export function ioStep<T>(what: string, promise: Promise<T>): ResultAsync<T, BackfillError> {
  return ResultAsync.fromPromise(
    promise,
    (e) => new BackfillError('IO_ERROR', `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
  );
}

/**
 * A failed outcome from an error. What the operation finished before it
 * stopped (`error.partial`) is the report, so `--json` prints it once, as `report`.
 */
export function failed(error: BackfillError, lines: readonly string[] = []): CommandOutcome {
  return { exitCode: exitCodeForError(error.code), report: error.partial ?? null, lines, error };
}
