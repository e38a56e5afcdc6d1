/**
 * How the CLI prints: reports as text or `--json`, errors as their code, a
 * one-line explanation and the fix (with the stack only under `--debug`),
 * and logs on stderr.
 *
 * @module
 */
import { inspect } from 'node:util';
import { BackfillError, ERROR_CODES, isBackfillError, type BackfillErrorCode } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { connectionFailureOf, type ConnectionFailureKind } from '../_internals/pg.js';

/** A writable text sink; `process.stdout` and `process.stderr` fit. */
export interface TextSink {
  write(text: string): unknown;
}

/** Turns values JSON cannot hold (bigint, Error, Map, Set) into ones it can. */
function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (isBackfillError(value)) return value.toJSON();
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/**
 * C0 and C1 controls, DEL, the Unicode line separators and bidirectional
 * controls, and the characters that print as nothing or as a plain space
 * (no-break, zero-width and typographic spaces, the soft hyphen, the byte
 * order mark): pasted from a web page into a command line, they would
 * otherwise make a message such as `unknown flag --batch-size 500` unreadable.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u00a0\u00ad\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff]/g;

/**
 * `text` with every control character, and every character that prints
 * as nothing or as a plain space, written as a `\uXXXX` escape. Text
 * output carries names from disk (episode files are named by the hosts
 * that upload them): one must not start a line of its own or drive the
 * terminal. `--json` needs no such care.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Stable, indented JSON for `--json` output. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, jsonSafe, 2)}\n`;
}

/**
 * `error` with its message reworded by `reword` (a library option said as
 * the CLI's flag), keeping its code, context, cause, database code, detail
 * and partial result; the error itself when nothing changed.
 */
export function reworded(error: BackfillError, reword: (message: string) => string): BackfillError {
  const message = reword(error.message);
  return message === error.message
    ? error
    : new BackfillError(error.code, message, {
        cause: error,
        context: error.context,
        // The SQLSTATE and the server's detail are the error's, whatever its words: formatError prints them.
        ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
        detail: error.detail,
        ...(error.partial === undefined ? {} : { partial: error.partial }),
      });
}

/** The fix of a `DB_ERROR` that ended a run after it had committed some of its work (see {@link partlyCommitted}). */
const PARTLY_COMMITTED_FIX =
  'Read the SQLSTATE and message: what is listed above as done before the failure was committed and stays so; the statement that failed changed nothing. Fix what it names, then run again.';

/**
 * `error` of a run of many transactions (partitions ensure or retention)
 * that committed some of them before it failed: its context says so
 * (`committedBefore`), and so does its fix line, which for a `DB_ERROR`
 * would otherwise say that nothing was committed.
 */
export function partlyCommitted(error: BackfillError): BackfillError {
  return new BackfillError(error.code, error.message, {
    cause: error.cause,
    context: { ...error.context, committedBefore: true },
    ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
    detail: error.detail,
    ...(error.partial === undefined ? {} : { partial: error.partial }),
  });
}

/**
 * `logger` with each message reworded by `reword` (a library option said
 * as the CLI's flag), as {@link reworded} rewords an error; the fields are
 * passed on as they are.
 */
export function rewordedLogger(logger: Logger, reword: (message: string) => string): Logger {
  const { debug } = logger;
  return {
    ...(debug === undefined ? {} : { debug: (message, fields) => debug.call(logger, reword(message), fields) }),
    info: (message, fields) => logger.info(reword(message), fields),
    warn: (message, fields) => logger.warn(reword(message), fields),
    error: (message, fields) => logger.error(reword(message), fields),
  };
}

/**
 * The fix of each error code whose library wording names a library option
 * or function (`lockTimeoutMs`, `writeDataset`), said with the flag or
 * command an operator of the CLI has instead.
 */
const CLI_FIXES: Partial<Record<BackfillErrorCode, string>> = {
  LOCK_TIMEOUT: 'Retry when the table is less busy, or raise --lock-timeout-ms.',
  CLOCK_SKEW: 'Fix the wrong clock (NTP); to run anyway, pass the instant with --now or raise --max-clock-skew-ms.',
  SIZE_LIMIT_EXCEEDED:
    'Check where the dataset came from; if it really is that large, raise the limit with the flag the message names (dataset verify: --max-decompressed-bytes, --max-compression-ratio, --max-entries; dataset import: --max-decompressed-bytes).',
  MEMBER_TYPE_UNSUPPORTED:
    'Datasets hold regular files and directories only: rebuild the tarball with `backfill-kit dataset build --from <dir>` or plain `tar --format=posix`.',
  LINE_TOO_LONG:
    'Fix the line, or raise the limit with the flag the message names (--max-line-bytes, or --max-index-line-bytes for index backfill); no flag lets a dataset line past what a JavaScript string holds (about 512 MiB) be read.',
  MANIFEST_MISSING: 'Build the dataset with `backfill-kit dataset build` or add a schema-1 manifest.',
  RECORD_INVALID: 'Set --id-field or fix the record named in the message.',
  JSONB_UNSUPPORTED: 'Remove the character, or import with --on-invalid reject to set the line aside.',
  ID_TOO_LONG: 'Shorten the id, or import with --on-invalid reject to set the line aside.',
  FILE_MISSING: 'Restore the file, or pass --ignore-missing.',
  ENVELOPE_INVALID: 'Check the envelope’s payload, payloadType and signatures fields.',
  GATE_UNAVAILABLE: 'Check --repo and that git runs; retry later.',
  SYMLINK_OUTSIDE_ROOT: 'Move the tarball under the root, or pass --follow-symlinks if the link is meant.',
  COMMIT_INCOMPLETE: 'Finish the recorded swap with the library’s dropLeftovers on the same MongoDB database, then rerun.',
};

/** Where the CLI's database is named, as a fix tells an operator to change it; `variable` is libpq's for the setting. */
function named(variable: string): string {
  return `--pg (or PGURI, PG_DSN, ${variable})`;
}

/** What a rerun keeps, for a cause that passes. */
const RERUN_KEEPS = 'a statement backfill resumes from its last committed batch with the same --run-id';

/**
 * The fix of a `DB_CONNECTION` for each cause the error tells
 * (`connectionFailureOf`), in place of the one generic sentence: what an
 * operator does about a server that is down differs from a mistyped host,
 * a rejected login or a full server. `at` is where it happened (`host:port`,
 * a socket path or a host name) when the driver said. Never the connection
 * string, which may hold a password.
 */
const CONNECTION_FIXES: Record<ConnectionFailureKind, (at: string | undefined) => string> = {
  refused: (at) =>
    `Nothing accepts connections at ${at ?? 'that address'}: start PostgreSQL there (or wait until it is up), or fix the host and port in ${named('PGHOST, PGPORT')}.`,
  'host-unknown': (at) =>
    `The host name ${at ?? 'of the database'} does not resolve: check its spelling in ${named('PGHOST')}, and this machine's DNS or /etc/hosts.`,
  'host-list': (at) =>
    `${at ?? 'The host'} is a list of hosts, and the driver connects to one host only (multi-host failover is not supported): name one host in ${named('PGHOST')}.`,
  'dns-unavailable': (at) =>
    `The name server did not answer for ${at ?? 'the host'}: check this machine's DNS settings and network, then rerun; an IP address in ${named('PGHOST')} needs no lookup.`,
  unreachable: (at) =>
    `There is no route to ${at ?? 'the host'}: check the network and firewalls (VPN, security groups, routes) between this machine and the server, and the host in ${named('PGHOST')}.`,
  'timed-out': (at) =>
    `${at ?? 'The server'} did not answer in time: check that the host and port in ${named('PGHOST, PGPORT')} are right and that no firewall drops the connection; for a slow server, raise PGCONNECT_TIMEOUT (connect_timeout in the URL).`,
  'login-rejected': () =>
    `The server rejected the login: check the user and password (in the URL, PGUSER, PGPASSWORD or ~/.pgpass) and that the server's pg_hba.conf has an entry for this client address, user and database (a hostssl entry also needs sslmode=require).`,
  'role-missing': () =>
    `The user the connection names is not a role on this server, or may not log in: fix the user in ${named('PGUSER')}, where none means the OS user, or create the role (CREATE ROLE … LOGIN).`,
  'database-missing': () =>
    `The database the connection names does not exist on this server: fix the database name in ${named('PGDATABASE')}, or create it (CREATE DATABASE …) first.`,
  'server-unavailable': () =>
    `The server is starting up, shutting down, restarting or recovering: wait until it accepts connections (pg_isready) and rerun; ${RERUN_KEEPS}.`,
  'session-timeout': () =>
    `The server ended the session on its idle_session_timeout, idle_in_transaction_session_timeout or transaction_timeout: raise or unset it for this role (ALTER ROLE … SET …) and rerun; ${RERUN_KEEPS}.`,
  'too-many-connections': () =>
    `The server has no connection slot left (max_connections, or the role's or database's CONNECTION LIMIT): run fewer connections at once (fewer commands in parallel, a lower statements backfill --workers or statements worker --concurrency), or raise the limit; then rerun.`,
  'ssl-unsupported': () =>
    "The server does not offer SSL, and the connection's sslmode requires it: set sslmode=prefer or disable in the URL (or PGSSLMODE), or turn ssl on in the server.",
  'ssl-certificate': () =>
    "The server's certificate was not accepted: name the CA that signed it with sslrootcert=<file> in the URL, and connect by a host name the certificate lists (sslmode=verify-ca checks the CA but not the name).",
  'ssl-client-certificate': () =>
    'The server wants a client certificate, or did not accept this one: give one it trusts, signed by a CA in its ssl_ca_file, with sslcert=<file> and sslkey=<file> in the URL, and check that it has not expired.',
  ssl: (at) =>
    `The SSL handshake with ${at ?? 'the server'} failed: check sslmode (in the URL or PGSSLMODE), sslrootcert, sslcert and sslkey in the URL against the server's ssl settings.`,
  'not-postgres': (at) =>
    `The server at ${at ?? 'that host and port'} did not speak the PostgreSQL protocol (it answered the SSL request as no PostgreSQL server does: an HTTP or SSH server, or another service, listens there): check the port, and the host, in ${named('PGHOST, PGPORT')} (PostgreSQL listens on 5432 unless configured otherwise).`,
  lost: () =>
    `The connection was cut (the server restarted, or a proxy, firewall or administrator closed it): rerun once the server accepts connections (pg_isready); ${RERUN_KEEPS}.`,
};

/** The fix of an import whose connection was lost while its COMMIT was in flight: the outcome is not known. */
const COMMIT_IN_FLIGHT_FIX =
  "The import may or may not have committed: compare the tables' row counts with the dataset's manifest, and import again only if they differ (once the server accepts connections).";

/** The fix of a run started from a current directory that no longer exists. */
const CWD_UNREADABLE_FIX =
  'Change to a directory that exists (cd to it by its absolute path; `cd "$PWD"` re-enters one recreated under the same name), then run the command again.';

/** The fix an operator reads for `error` (the `fix:` line, and `error.fix` with `--json`): for a `DB_CONNECTION`, the one for its cause. */
export function fixOf(error: BackfillError): string {
  // Whatever cut it, a rerun may load the dataset a second time: what the tables hold says whether one is needed.
  if (error.code === 'DB_CONNECTION' && error.context['commitInFlight'] === true) return COMMIT_IN_FLIGHT_FIX;
  if (error.code === 'IO_ERROR' && error.context['cwdUnreadable'] === true) return CWD_UNREADABLE_FIX;
  // DB_ERROR's own fix says nothing was committed, which one statement of many cannot say for the others.
  if (error.code === 'DB_ERROR' && error.context['committedBefore'] === true) return PARTLY_COMMITTED_FIX;
  const failure = connectionFailureOf(error);
  if (failure !== undefined) return CONNECTION_FIXES[failure.kind](failure.where);
  return CLI_FIXES[error.code] ?? ERROR_CODES[error.code].fix;
}

/**
 * The error as an operator reads it:
 * ```
 * error COUNT_MISMATCH: linksets.ndjson: the manifest says 5 records, but 4 rows were loaded …
 *   meaning: Rows loaded differ from the count in the manifest.
 *   fix:     Nothing was committed; see the report.
 * ```
 * A `DB_CONNECTION`'s fix is the one for its cause when the error tells
 * it (a refused connection, an unknown host, a rejected login, …). With
 * `debug`, the context, SQLSTATE, stack and causes follow.
 */
export function formatError(error: BackfillError, debug: boolean): string {
  const entry = ERROR_CODES[error.code];
  const fix = fixOf(error);
  const lines = [`error ${error.code}: ${printable(error.message)}`, `  meaning: ${entry.summary}`, `  fix:     ${printable(fix)}`];
  if (error.dbCode !== undefined) lines.push(`  sqlstate/db code: ${String(error.dbCode)}`);
  if (debug) {
    const context = Object.fromEntries(Object.entries(error.context).filter(([k]) => k !== 'report' && k !== 'summary' && k !== 'partial'));
    if (Object.keys(context).length > 0) lines.push(`  context: ${JSON.stringify(context, jsonSafe)}`);
    lines.push(error.stack ?? '(no stack)');
    let cause: unknown = error.cause;
    for (let depth = 0; cause !== undefined && depth < 5; depth += 1) {
      lines.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : inspect(cause)}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Log fields as compact JSON after the message. */
function fieldsText(fields: Record<string, unknown> | undefined): string {
  if (fields === undefined || Object.keys(fields).length === 0) return '';
  return ` ${JSON.stringify(fields, jsonSafe)}`;
}

/**
 * A {@link Logger} that writes `info:`/`warn:`/`error:` lines to stderr
 * (debug lines only with `debug`), or nothing when `quiet`. With `tty`,
 * each line first clears the current line, where a progress bar may be.
 */
export function stderrLogger(
  sink: TextSink,
  options: { readonly debug: boolean; readonly quiet: boolean; readonly tty?: boolean },
): Logger {
  // On a terminal, clear a progress bar that may be drawn on the current line first.
  const clear = options.tty === true ? '\r\x1b[2K' : '';
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    if (!options.quiet) sink.write(`${clear}${level}: ${printable(message)}${fieldsText(fields)}\n`);
  };
  return {
    ...(options.debug ? { debug: line('debug') } : {}),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  };
}

/** `1234567` → `1,234,567`. */
export function num(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** `1, 'row'` → `1 row`, `1234, 'row'` → `1,234 rows`. */
export function counted(n: number, noun: string): string {
  return `${num(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** `1536` → `1.5 KiB`. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
