/**
 * How the CLI connects to PostgreSQL, resolved in one place for every
 * connection it opens: its own pool, and a planned run's pool and job engine
 * (`statements plan`, `worker`, `report`, `backfill --workers`).
 *
 * @module
 */
import { userInfo } from 'node:os';
import { err, ok, type Result } from 'neverthrow';
import type pg from 'pg';
import { BackfillError } from '../errors.js';
import { MAX_TIMER_MS } from '../_internals/milliseconds.js';
import { HOST_LIST_REFUSED, isHostList, pgPoolConfig } from '../_internals/pg-dsn.js';
import { resolvePgTarget, type Env, type PgTarget } from './env.js';
import { sslModeOf, type SslMode } from './pg-ssl.js';

/** Where and how the CLI connects. */
export interface CliPgConnection {
  readonly target: PgTarget;
  /** `sslmode` as libpq reads it (the URL's, else `PGSSLMODE`, else `prefer`). */
  readonly sslMode: SslMode;
  /**
   * The driver's settings: the URL's (without `sslmode`), and the OS user
   * when neither the URL nor `PGUSER` names one. Without a URL, the driver
   * reads the libpq PG* variables itself.
   */
  readonly settings: pg.PoolConfig;
  /** `connect_timeout` of the connection string, else `PGCONNECT_TIMEOUT`, in ms (0 waits forever). */
  readonly connectTimeoutMs: number;
  /** Which of the two set {@link connectTimeoutMs} (or neither, for the default), as messages name it. */
  readonly connectTimeoutFrom: string;
}

/** The variable of the CLI's connect timeout, as libpq names it (and as messages name it). */
export const CONNECT_TIMEOUT_VAR = 'PGCONNECT_TIMEOUT';
const DEFAULT_CONNECT_TIMEOUT_SECONDS = 30;

/**
 * How long a connection to PostgreSQL may take, in ms: the connection
 * string's `connect_timeout`, else `PGCONNECT_TIMEOUT`, in seconds as libpq
 * reads them (0 waits forever), else 30 s. Without a limit a
 * server that accepts and never answers holds the CLI, and a SIGTERM, forever.
 * More than a timer holds (about 24.8 days) is cut to that: a longer timer
 * would fire at once, failing every connection.
 */
function connectTimeout(env: Env, target: PgTarget): Result<{ ms: number; from: string }, BackfillError> {
  const fromUrl = target.connectionString === undefined ? null : queryParam(target.connectionString, 'connect_timeout');
  const [text, from] = fromUrl !== null ? [fromUrl, 'connect_timeout'] : [env[CONNECT_TIMEOUT_VAR] ?? '', CONNECT_TIMEOUT_VAR];
  if (text === '') return ok({ ms: DEFAULT_CONNECT_TIMEOUT_SECONDS * 1000, from: CONNECT_TIMEOUT_VAR });
  const seconds = /^[0-9]{1,7}$/.test(text) ? Number(text) : Number.NaN;
  // The variable names itself; a connection string's keyword is named with where that string came from.
  const where = fromUrl === null ? '' : `${target.from}: `;
  return Number.isNaN(seconds)
    ? err(
        new BackfillError(
          'INVALID_ARGUMENT',
          `${where}${from} must be a whole number of seconds (0 waits forever), not ${JSON.stringify(text)}.`,
        ),
      )
    : ok({ ms: Math.min(seconds * 1000, MAX_TIMER_MS), from });
}

/** The query parameter `name` of `url`, or `null` (also when the URL does not parse: pgPoolConfig reports that). */
function queryParam(url: string, name: string): string | null {
  try {
    return new URL(url).searchParams.get(name);
  } catch {
    return null;
  }
}

/**
 * The user libpq connects as when neither the URL nor `PGUSER` names one:
 * the OS user running the command. The driver would read `USER` instead,
 * which cron and systemd services often leave unset.
 */
function defaultUser(settings: pg.PoolConfig, env: Env): { user?: string } {
  if ((settings.user ?? '') !== '' || (env['PGUSER'] ?? '') !== '') return {};
  try {
    return { user: userInfo().username };
  } catch {
    // No passwd entry for this uid: leave it to the driver.
    return {};
  }
}

/**
 * `PGPORT`, when the connection names no port of its own: a TCP port as
 * libpq reads it (digits, blanks around them allowed), else a usage error;
 * the driver would read `5432abc` as 5432 and `abc` as a port it then
 * fails to connect to. Empty when unset or not needed.
 */
function envPort(settings: pg.PoolConfig, env: Env): Result<{ port?: number }, BackfillError> {
  const text = env['PGPORT'] ?? '';
  if (settings.port !== undefined || text === '') return ok({});
  const port = /^\s*[0-9]{1,5}\s*$/.test(text) ? Number(text) : Number.NaN;
  return port >= 1 && port <= 65535
    ? ok({ port })
    : err(new BackfillError('INVALID_ARGUMENT', `PGPORT must be a TCP port (1 to 65535), not ${JSON.stringify(text)}.`));
}

/**
 * A host list in the URL (`postgres://a,b/db`) or, where the URL names no
 * host (or there is none), in `PGHOST`: refused before connecting, as the
 * keyword form's `Host=a,b` is, rather than looked up as one name.
 */
function oneHost(settings: pg.PoolConfig, env: Env, target: PgTarget): Result<void, BackfillError> {
  const [host, from] = (settings.host ?? '') !== '' ? [settings.host ?? '', target.from] : [env['PGHOST'] ?? '', 'PGHOST'];
  return isHostList(host) ? err(new BackfillError('INVALID_ARGUMENT', `${from}: ${HOST_LIST_REFUSED}`)) : ok(undefined);
}

/** The connection `--pg` (else the first of the `order` variables set, else libpq's PG* variables) names, with its settings. */
export function cliPgConnection(pgFlag: string | undefined, env: Env, order: readonly string[]): Result<CliPgConnection, BackfillError> {
  return resolvePgTarget(pgFlag, env, order).andThen((target) => {
    const timeout = connectTimeout(env, target);
    if (timeout.isErr()) return err(timeout.error);
    return sslModeOf(target.connectionString, env).andThen(({ mode, url }) =>
      (url === undefined ? ok<pg.PoolConfig, BackfillError>({}) : pgPoolConfig(url))
        .mapErr((e) => new BackfillError(e.code, `${target.from}: ${e.message}`))
        .andThen((settings) => oneHost(settings, env, target).map(() => settings))
        .andThen((settings) =>
          envPort(settings, env).map((port) => ({
            target,
            sslMode: mode,
            settings: { ...settings, ...port, ...defaultUser(settings, env) },
            connectTimeoutMs: timeout.value.ms,
            connectTimeoutFrom: timeout.value.from,
          })),
        ),
    );
  });
}

/**
 * The connection URL for connections the CLI does not open itself (a
 * planned run's pool, the job engine's), with the user {@link cliPgConnection}
 * chose written in when the URL names none: the driver reads a URL's empty
 * user over any `user` option, and `USER` after it. `undefined` without a URL.
 */
export function runUrl(connection: CliPgConnection): string | undefined {
  const url = connection.target.connectionString;
  const user = connection.settings.user;
  if (url === undefined || user === undefined) return url;
  try {
    const u = new URL(url);
    if (u.username !== '') return url;
    u.username = encodeURIComponent(user);
    return u.toString();
  } catch {
    return url;
  }
}
