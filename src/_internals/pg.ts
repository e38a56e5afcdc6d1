import pg from 'pg';
import { ResultAsync } from 'neverthrow';
import { parse } from 'pg-connection-string';
import { BackfillError, type BackfillErrorContext } from '../errors.js';

/** Result rows as the `pg` driver returns them. */
export interface PgQueryResult<Row = Record<string, unknown>> {
  readonly rows: Row[];
  readonly rowCount: number | null;
}

/**
 * The part of a `pg.Client` / `pg.PoolClient` the library uses. The loose
 * `query` signature is what lets pg-copy-streams submittables through.
 */
export interface PgClientLike {
  /** Runs a statement or a submittable (such as a COPY stream). */
  // biome-ignore lint/suspicious/noExplicitAny: pg's query() has a dozen overloads (text, config, Submittable, callbacks); only any[] => any accepts them all structurally
  query(...args: any[]): any;
  /** Returns a pooled client to its pool (pool clients only). */
  release?(destroy?: boolean | Error): void;
}

/** A statement and its parameters. */
export interface Statement {
  readonly text: string;
  readonly values?: readonly unknown[];
}

/** Sends `statement` on `client` and resolves with its rows. */
export async function query<R = Record<string, unknown>>(client: PgClientLike, statement: Statement): Promise<R[]> {
  const result = (await client.query(statement.text, statement.values)) as { rows?: R[] } | undefined;
  return result?.rows ?? [];
}

/** The part of a `pg.Pool` the library uses. */
export interface PgPoolLike {
  /** Checks out a client, which the library releases when done. */
  connect(): Promise<PgPooledClient>;
  /** Clients the pool holds; its presence tells a pool from a client. */
  readonly totalCount: number;
  /** Runs a statement on any pooled client. */
  // biome-ignore lint/suspicious/noExplicitAny: pg's query() has a dozen overloads (text, config, Submittable, callbacks); only any[] => any accepts them all structurally
  query(...args: any[]): any;
}

/** A client checked out of a {@link PgPoolLike}. */
export interface PgPooledClient extends PgClientLike {
  /** Returns the client to its pool; `true` or an error destroys it instead. */
  release(destroy?: boolean | Error): void;
}

/**
 * How to open connections of one's own (a distributed run's pool, its job
 * engine's): the connection string and the settings each connection takes
 * over it.
 */
export interface PgConnectOptions {
  readonly connectionString: string;
  /** The driver's `ssl` option, in place of its reading of the string's SSL parameters. */
  readonly ssl?: pg.ClientConfig['ssl'];
  /** How long a connection may take to open, in ms; 0 waits forever. */
  readonly connectTimeoutMs?: number;
  /** The driver's `password` option (a string, or a function it calls when the server asks for a password), over the string's. */
  readonly password?: NonNullable<pg.ClientConfig['password']>;
}

/**
 * The driver's settings for the connection string, SSL and password of
 * {@link PgConnectOptions}. The driver reads a connection string's
 * password (empty when it has none) over a `password` option, so with a
 * password the string is read here as the driver reads it (its settings
 * over the others) and the password set after.
 */
export function pgConnectionSettings(
  options: PgConnectOptions,
): Pick<PgConnectOptions, 'ssl' | 'password'> & { readonly connectionString?: string } {
  const ssl = options.ssl === undefined ? {} : { ssl: options.ssl };
  if (options.password === undefined) return { connectionString: options.connectionString, ...ssl };
  // The driver's own reading of the string, handed to it as it reads it (host, user, port as text, …): typed as the string it stands for.
  const read = parse(options.connectionString) as { readonly connectionString?: string };
  return { ...ssl, ...read, password: options.password };
}

/**
 * The `pg.Pool` settings for {@link PgConnectOptions} (without `max`). The
 * connect timeout goes on each client's connect, not on the pool, where it
 * would also end a wait for a busy pool's client.
 */
export function pgPoolSettings(options: PgConnectOptions): pg.PoolConfig {
  return {
    ...pgConnectionSettings(options),
    ...(options.connectTimeoutMs === undefined ? {} : { Client: clientConnectingWithin(options.connectTimeoutMs) }),
  };
}

/** `<host>:<port> did not answer within <n> s`, or `within <limit> (<n> s)` where `limit` names the setting. */
function noAnswerWithin(host: string, port: number, ms: number, limit?: string): string {
  return `${host}:${port} did not answer within ${limit === undefined ? `${ms / 1000} s` : `${limit} (${ms / 1000} s)`}`;
}

/**
 * The error of a connection to `host:port` that got no answer within `ms`
 * (saying so as {@link noAnswerWithin} does), shaped like the system's own
 * ETIMEDOUT (`code`, `syscall`, `address`, `port`) so that it is told apart
 * like one ({@link connectionFailureOf}).
 */
export function connectTimedOut(host: string, port: number, ms: number, limit?: string, cause?: unknown): Error {
  const error = new Error(noAnswerWithin(host, port, ms, limit), cause === undefined ? undefined : { cause });
  return Object.assign(error, { code: 'ETIMEDOUT', syscall: 'connect', address: host, port });
}

/** The code of {@link notPostgres}'s error. */
const NOT_POSTGRES = 'ERR_NOT_POSTGRESQL';

/** The driver's words when the server answers its SSL request with neither `S` nor `N`. */
const BAD_SSL_ANSWER = 'There was an error establishing an SSL connection';

/**
 * The error of a connection to `host:port` whose server answered the SSL
 * request with something other than PostgreSQL's one-byte `S` or `N`
 * (an HTTP server's `HTTP/1.1 400`, an SSH server's banner): not
 * PostgreSQL, whatever a retry without SSL would then say (the connection
 * "terminated unexpectedly"). Shaped like a system error (`code`,
 * `address`, `port`) so that {@link connectionFailureOf} names where.
 */
export function notPostgres(host: string, port: number, cause?: unknown): Error {
  const error = new Error(
    `${host}:${port} did not answer as PostgreSQL does (its answer to the SSL request was neither S nor N)`,
    cause === undefined ? undefined : { cause },
  );
  return Object.assign(error, { code: NOT_POSTGRES, syscall: 'connect', address: host, port });
}

/** `error` located at `host:port` when it is the driver's for an SSL request answered with neither `S` nor `N` ({@link notPostgres}), else `error`. */
export function locatedNotPostgres(error: unknown, host: string, port: number): unknown {
  return error instanceof Error && error.message === BAD_SSL_ANSWER ? notPostgres(host, port, error) : error;
}

/** The AbortError a connection attempt to `host:port` ends with when its signal fires. */
export function connectInterrupted(host: string, port: number): Error {
  return Object.assign(new Error(`connecting to ${host}:${port} was interrupted`), { name: 'AbortError' });
}

/**
 * A `pg.Client` class whose connect gives up after `ms` (0 waits forever),
 * saying `<host>:<port> did not answer within <n> s` (or `within <limit>
 * (<n> s)`, `limit` naming the setting, such as `PGCONNECT_TIMEOUT`) rather
 * than the driver's bare "timeout expired", and at once when `signal`
 * fires (an AbortError, so a Ctrl-C does not wait for a server that never answers).
 */
export function clientConnectingWithin(ms: number, limit?: string, signal?: AbortSignal): typeof pg.Client {
  return class extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      const given = typeof config === 'string' ? { connectionString: config } : config;
      // The driver hides the password from enumeration (stack traces), so a spread alone would drop it.
      super({ ...given, password: given?.password, connectionTimeoutMillis: ms });
    }

    #said(error: Error): Error {
      return error?.message === 'timeout expired' ? connectTimedOut(this.host, this.port, ms, limit, error) : error;
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
    override connect(callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): Promise<pg.Client> | undefined {
      const stopWatching = this.#stopOnAbort();
      if (callback === undefined)
        return super.connect().then(
          (c) => {
            stopWatching();
            return c;
          },
          (error: Error) => {
            stopWatching();
            return Promise.reject(this.#said(error));
          },
        );
      super.connect(((error: Error | null, c: pg.Client) => {
        stopWatching();
        if (error) (callback as (err: Error) => void)(this.#said(error));
        else (callback as (err: null, c: pg.Client) => void)(null, c);
      }) as (err: Error) => void);
      return undefined;
    }

    /** Ends the attempt, as the driver's own timeout does, when `signal` fires; returns what stops watching. */
    #stopOnAbort(): () => void {
      if (signal === undefined) return () => undefined;
      const stop = (): void => {
        const connection = (this as unknown as { connection: { _ending: boolean; stream: { destroy(error: Error): void } } }).connection;
        connection._ending = true;
        connection.stream.destroy(connectInterrupted(this.host, this.port));
      };
      if (signal.aborted) {
        queueMicrotask(stop);
        return () => undefined;
      }
      signal.addEventListener('abort', stop, { once: true });
      return () => signal.removeEventListener('abort', stop);
    }
  };
}

/**
 * Where a module gets PostgreSQL from: the caller's `pg.Pool`, a connected
 * `pg.Client`, or a connection string (the library then owns a small pool).
 */
export type PgSource = PgPoolLike | PgClientLike | string;

function isPool(source: PgPoolLike | PgClientLike): source is PgPoolLike {
  return typeof (source as Partial<PgPoolLike>).totalCount === 'number' && typeof (source as Partial<PgPoolLike>).connect === 'function';
}

/** Why a connection failed or was lost, as far as its error tells: what an operator does about it differs with each. */
export type ConnectionFailureKind =
  /** Nothing listens at the address (ECONNREFUSED, or no Unix socket there). */
  | 'refused'
  /** The host name does not resolve (ENOTFOUND). */
  | 'host-unknown'
  /** The "host name" that did not resolve is a comma-separated list (`PGHOST=a,b`, `postgres://a,b/db`): the driver takes one host. */
  | 'host-list'
  /** The name server did not answer (EAI_AGAIN). */
  | 'dns-unavailable'
  /** No route to the host (EHOSTUNREACH, ENETUNREACH). */
  | 'unreachable'
  /** The host did not answer in time (ETIMEDOUT, or the connect timeout). */
  | 'timed-out'
  /** The server rejected the login (28P01, 28000). */
  | 'login-rejected'
  /** The role does not exist or may not log in (28000 from the server's session start). */
  | 'role-missing'
  /** No such database (3D000). */
  | 'database-missing'
  /** The server is starting up, shutting down, restarting or in recovery (57P01-57P03). */
  | 'server-unavailable'
  /** The server ended an idle session or a long transaction on its timeout (57P05, 25P03, 25P04). */
  | 'session-timeout'
  /** No connection slot left (53300). */
  | 'too-many-connections'
  /** The server offers no SSL, and the connection requires it. */
  | 'ssl-unsupported'
  /** The server's certificate was not accepted. */
  | 'ssl-certificate'
  /** The server wants a client certificate, or did not accept this client's (an SSL alert it sent about one). */
  | 'ssl-client-certificate'
  /** Another SSL/TLS failure. */
  | 'ssl'
  /**
   * What answers at the address is not PostgreSQL (an HTTP or SSH server, another service): it answered the
   * SSL request with something other than PostgreSQL's one-byte `S` or `N`.
   */
  | 'not-postgres'
  /** The connection was cut (ECONNRESET, EPIPE, class 08, "Connection terminated"). */
  | 'lost';

/** A {@link ConnectionFailureKind} and where it happened, when the driver's error says. */
export interface ConnectionFailure {
  readonly kind: ConnectionFailureKind;
  /** `host:port`, a Unix socket's path, or the host name that did not resolve. */
  readonly where?: string;
}

/** SQLSTATE too_many_connections: no connection slot left (max_connections, or the role's or database's CONNECTION LIMIT). */
export const TOO_MANY_CONNECTIONS = '53300';

/**
 * What each SQLSTATE of a connection the server refused or ended says about
 * its cause (class 08 aside, a connection exception): every one of them is
 * a `DB_CONNECTION`, not a statement gone wrong. The server is shutting
 * down, crashed or not yet recovered (57P01-57P03); the session sat idle
 * past `idle_session_timeout` (57P05), idle in a transaction past
 * `idle_in_transaction_session_timeout` (25P03) or in one past
 * `transaction_timeout` (25P04, PostgreSQL 17); it had no connection slot
 * (53300); or it refused the login or the database for good.
 */
const SQLSTATE_FAILURES: ReadonlyMap<unknown, ConnectionFailureKind> = new Map<string, ConnectionFailureKind>([
  ['28P01', 'login-rejected'],
  ['28000', 'login-rejected'],
  ['3D000', 'database-missing'],
  ['57P01', 'server-unavailable'],
  ['57P02', 'server-unavailable'],
  ['57P03', 'server-unavailable'],
  ['57P05', 'session-timeout'],
  ['25P03', 'session-timeout'],
  ['25P04', 'session-timeout'],
  [TOO_MANY_CONNECTIONS, 'too-many-connections'],
]);

/** A connection the server refused for good: no such database, a rejected login. Waiting does not heal it. */
const REFUSED_FOR_GOOD: ReadonlySet<ConnectionFailureKind | undefined> = new Set(['login-rejected', 'database-missing']);

/**
 * Whether `error` is a connection lost or refused for now (refused or reset,
 * a server shutting down, restarting or recovering, no connection slot
 * left), which may come back:
 * a `DB_CONNECTION` other than a missing database or a rejected login.
 */
export function isPassingConnectionLoss(error: BackfillError): boolean {
  return error.code === 'DB_CONNECTION' && !REFUSED_FOR_GOOD.has(SQLSTATE_FAILURES.get(error.dbCode));
}

/** What to change when the server cancelled a statement on its `statement_timeout`. */
const STATEMENT_TIMEOUT_ADVICE =
  'Give the job a longer statement_timeout (ALTER ROLE … SET statement_timeout, or options=-c statement_timeout=0 in its connection URL) and run it again';

/** SQLSTATE query_canceled: the role's or database's `statement_timeout`, or another session's `pg_cancel_backend`; the kit never cancels its own statements. */
const QUERY_CANCELED = '57014';

/**
 * SQLSTATEs with their own code; everything else is `DB_ERROR`. A statement
 * the server cancelled (57014) is a `DB_ERROR` saying so and what to change,
 * never `ABORTED`: that code means the caller's own AbortSignal (exit 130 on
 * the command line, as for Ctrl-C), which the kit honours between
 * statements, not by cancelling them. A connection the server turned away
 * for want of a slot (53300, too many connections) is `DB_CONNECTION`, like
 * one it refused: no statement of the caller's was rejected.
 */
export function pgErrorToBackfill(error: unknown, context: BackfillErrorContext = {}, what = 'PostgreSQL'): BackfillError {
  if (error instanceof BackfillError) return error;
  const e = error as { code?: unknown; message?: unknown; detail?: unknown; syscall?: unknown } | null;
  const message = `${what}: ${typeof e?.message === 'string' ? e.message : String(error)}`;
  // An argument a driver or engine asserts on (pg-boss checks its options with node:assert) is no lost connection.
  if (e?.code === 'ERR_ASSERTION') return new BackfillError('INVALID_ARGUMENT', message, { cause: error, context });
  // A socket error's code (EPIPE, five capitals) is no SQLSTATE: Node system errors carry a syscall.
  const sqlstate = typeof e?.code === 'string' && e.syscall === undefined ? e.code : undefined;
  const base = { cause: error, context, ...(sqlstate === undefined ? {} : { dbCode: sqlstate }), detail: e?.detail };
  // A connection attempt its signal ended (Ctrl-C while the server does not answer).
  if (error instanceof Error && error.name === 'AbortError') return new BackfillError('ABORTED', message, base);
  if (sqlstate === '55P03') return new BackfillError('LOCK_TIMEOUT', message, base);
  if (sqlstate === QUERY_CANCELED) {
    return new BackfillError(
      'DB_ERROR',
      `${message}. The server cancelled the statement: it outlasted the statement_timeout of this role or database, or another session cancelled it. ${STATEMENT_TIMEOUT_ADVICE}; what was committed is kept.`,
      base,
    );
  }
  if (sqlstate === '42P01') return new BackfillError('TABLE_NOT_FOUND', message, base);
  // A missing schema: the table named in the context does not exist either (PostgreSQL names only the schema).
  if (sqlstate === '3F000') {
    const table = typeof context['table'] === 'string' ? ` (table ${context['table']})` : '';
    return new BackfillError('TABLE_NOT_FOUND', `${message}${table}`, base);
  }
  if (sqlstate === '23505') return new BackfillError('DUPLICATE_ID', message, base);
  if (sqlstate?.startsWith('08') || SQLSTATE_FAILURES.has(sqlstate)) {
    return new BackfillError('DB_CONNECTION', message, base);
  }
  if (sqlstate !== undefined && /^[0-9A-Z]{5}$/.test(sqlstate)) return new BackfillError('DB_ERROR', message, base);
  // Node network errors (ECONNREFUSED, ECONNRESET, …) and "Connection terminated".
  return new BackfillError('DB_CONNECTION', message, base);
}

/** What each Node.js system error code of a connection says about its cause. */
const SYSTEM_FAILURES: Readonly<Record<string, ConnectionFailureKind>> = {
  ECONNREFUSED: 'refused',
  // A Unix socket path with no server behind it.
  ENOENT: 'refused',
  ENOTFOUND: 'host-unknown',
  EAI_AGAIN: 'dns-unavailable',
  EAI_FAIL: 'dns-unavailable',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  ETIMEDOUT: 'timed-out',
  ECONNRESET: 'lost',
  ECONNABORTED: 'lost',
  EPIPE: 'lost',
  // A protocol error of the TLS connection: what answered S to the SSL request then spoke no TLS ("wrong version number").
  EPROTO: 'ssl',
};

/**
 * OpenSSL's certificate checks as Node.js names them, beyond those whose
 * name says CERT: the server sent its certificate without the CA that
 * signed it (the usual one with a private CA), a CA certificate that may
 * not sign, a chain too long, a revocation list that cannot be used.
 */
const CERTIFICATE_FAILURES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'CRL_SIGNATURE_FAILURE',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
]);

/** The driver's error as far as telling a connection failure apart reads it. */
interface DriverError {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly routine?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly hostname?: unknown;
  readonly library?: unknown;
  readonly errors?: unknown;
}

/** `host:port` (`[::1]:5432` for IPv6), a socket path, or the host name an error names. */
function whereOf(e: DriverError): string | undefined {
  // A host with several addresses fails with an AggregateError whose errors name them.
  const first = Array.isArray(e.errors) && e.address === undefined ? (e.errors[0] as DriverError | undefined) : undefined;
  if (first !== undefined) return whereOf(first);
  if (typeof e.hostname === 'string') return e.hostname;
  if (typeof e.address !== 'string') return undefined;
  const host = e.address.includes(':') ? `[${e.address}]` : e.address;
  return typeof e.port === 'number' ? `${host}:${e.port}` : e.address;
}

/**
 * Why the connection of a `DB_CONNECTION` failed or was lost, read from
 * its SQLSTATE and the driver's error down its causes (through errors that
 * reworded or wrapped it); `undefined` for another code or a cause the
 * error does not tell (a run lock lost, a MongoDB error).
 */
export function connectionFailureOf(error: BackfillError): ConnectionFailure | undefined {
  if (error.code !== 'DB_CONNECTION') return undefined;
  let sqlstate: string | undefined;
  let driver: DriverError | undefined;
  let link: unknown = error;
  for (let depth = 0; link !== null && typeof link === 'object' && depth < 8; depth += 1) {
    if (link instanceof BackfillError) {
      if (typeof link.dbCode === 'string' && /^[0-9A-Z]{5}$/.test(link.dbCode)) sqlstate ??= link.dbCode;
    } else {
      driver ??= link as DriverError;
    }
    link = (link as { cause?: unknown }).cause;
  }
  const where = driver === undefined ? undefined : whereOf(driver);
  const failure = (kind: ConnectionFailureKind): ConnectionFailure => (where === undefined ? { kind } : { kind, where });
  if (sqlstate !== undefined) {
    // The server checks the role before the password: InitializeSessionUserId says it is missing or may not log in.
    if (sqlstate === '28000' && driver?.routine === 'InitializeSessionUserId') return failure('role-missing');
    const kind = SQLSTATE_FAILURES.get(sqlstate) ?? (sqlstate.startsWith('08') ? 'lost' : undefined);
    return kind === undefined ? undefined : failure(kind);
  }
  if (driver === undefined) return undefined;
  const code = typeof driver.code === 'string' ? driver.code : '';
  if (code === NOT_POSTGRES) return failure('not-postgres');
  const system = SYSTEM_FAILURES[code];
  // libpq's host list, which the driver looks up as one name.
  if (system === 'host-unknown' && where?.includes(',') === true) return failure('host-list');
  if (system !== undefined) return failure(system);
  const message = typeof driver.message === 'string' ? driver.message : '';
  // The driver's words when sslmode asks for SSL and the server answers that it has none.
  if (message === 'The server does not support SSL connections') return failure('ssl-unsupported');
  // The driver's words when the answer to its SSL request was neither S nor N: no PostgreSQL answers so.
  if (message === BAD_SSL_ANSWER) return failure('not-postgres');
  // An alert the server sent (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED, ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE,
  // ERR_SSL_TLSV1_ALERT_UNKNOWN_CA): its complaint about this client's certificate, not this client's about the server's.
  if (/^ERR_SSL_\w*ALERT_/.test(code)) return failure(/CERTIFICATE|UNKNOWN_CA/.test(code) ? 'ssl-client-certificate' : 'ssl');
  // Node.js's certificate checks (CERT_HAS_EXPIRED, SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID, UNABLE_TO_VERIFY_LEAF_SIGNATURE, …).
  if (/CERT/.test(code) || CERTIFICATE_FAILURES.has(code)) return failure('ssl-certificate');
  // OpenSSL's own errors carry the library that raised them.
  if (/^ERR_(SSL|TLS)_/.test(code) || driver.library !== undefined) return failure('ssl');
  // pg-pool's own connect timeout (the job engine's pool, given PGCONNECT_TIMEOUT): no answer in time, not a connection cut.
  if (message === 'Connection terminated due to connection timeout') return failure('timed-out');
  if (/^Connection terminated/.test(message)) return failure('lost');
  return undefined;
}

/**
 * The error of a query sent on a connection the server had already closed
 * (`lost`, what the connection's 'error' event carried: "terminating
 * connection due to administrator command", 57P01): the driver's bare
 * "not queryable" becomes the server's reason, with its SQLSTATE.
 */
function withLostReason(error: unknown, lost: unknown): unknown {
  if (!(error instanceof Error) || !(lost instanceof Error) || !/is not queryable$/.test(error.message)) return error;
  const l = lost as Error & { code?: unknown; syscall?: unknown; detail?: unknown };
  return Object.assign(new Error(`${l.message} (the connection was closed before this statement)`, { cause: error }), {
    ...(l.code === undefined ? {} : { code: l.code }),
    ...(l.syscall === undefined ? {} : { syscall: l.syscall }),
    ...(l.detail === undefined ? {} : { detail: l.detail }),
  });
}

/**
 * A handle on the caller's database that knows whether it owns the pool.
 * Modules keep one of these and call {@link PgHandle.withClient}.
 */
export class PgHandle {
  readonly #source: PgPoolLike | PgClientLike;
  readonly #owned: boolean;

  constructor(source: PgSource) {
    if (typeof source === 'string') {
      const pool = new pg.Pool({ connectionString: source, max: 4 });
      // pg.Pool re-emits an idle connection's error (a server restart, an
      // admin's pg_terminate_backend); with no listener that would crash the
      // host process. The dropped connection leaves the pool, and the next
      // query reports any lasting problem as a Result.
      pool.on('error', () => {});
      this.#source = pool;
      this.#owned = true;
    } else {
      this.#source = source;
      this.#owned = false;
    }
  }

  /** Whether {@link withClient} checks connections out of a pool (and destroys one whose work failed), rather than lending the caller's client. */
  get pooled(): boolean {
    return isPool(this.#source);
  }

  /**
   * Runs `fn` with a dedicated connection (checked out of the pool, or the
   * caller's client) and releases it afterwards. A connection whose work
   * failed is destroyed rather than returned, so a broken COPY or an aborted
   * transaction never leaks into the caller's pool.
   */
  async withClient<T>(fn: (client: PgClientLike) => Promise<T>): Promise<T> {
    if (!isPool(this.#source)) return fn(this.#source);
    const client = await this.#source.connect();
    // While checked out, a connection the server drops between two queries
    // (a crash, an immediate shutdown) emits 'error' with no pool listener:
    // unhandled, it would crash the host. The next query fails anyway, but the
    // driver then says only that the client "is not queryable": the server's
    // reason, kept here, goes into that query's error.
    let lost: unknown;
    const ignore = (error: unknown): void => {
      lost ??= error;
    };
    const events = client as unknown as {
      on?(event: 'error', fn: (error: unknown) => void): void;
      removeListener?(event: 'error', fn: (error: unknown) => void): void;
    };
    events.on?.('error', ignore);
    // Only a promised query's error can be rewritten; a callback's or a COPY stream's passes as the driver gives it.
    const query = (...args: unknown[]): unknown => {
      const r: unknown = client.query(...args);
      return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(withLostReason(e, lost))) : r;
    };
    const explained = new Proxy(client, {
      get(target, key) {
        if (key === 'query') return query;
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    let failed: unknown;
    try {
      return await fn(explained);
    } catch (error) {
      failed = error;
      throw error;
    } finally {
      events.removeListener?.('error', ignore);
      client.release(failed === undefined ? undefined : true);
    }
  }

  /**
   * How many more connections {@link withClient} could check out right now
   * without waiting for one to be released: the pool's idle clients and the
   * room below its `max`, less the callers already waiting (pg.Pool's
   * counters; a pool without `max` counts as unbounded). 0 for a single
   * client, which is always in use by whoever holds it.
   */
  spareConnections(): number {
    if (!isPool(this.#source)) return 0;
    const pool = this.#source as PgPoolLike & { idleCount?: unknown; waitingCount?: unknown; options?: { max?: unknown } };
    const max = pool.options?.max;
    if (typeof max !== 'number') return Number.POSITIVE_INFINITY;
    const counter = (n: unknown): number => (typeof n === 'number' ? n : 0);
    return max - pool.totalCount + counter(pool.idleCount) - counter(pool.waitingCount);
  }

  /** A one-off query, mapped into a Result. */
  query<Row = Record<string, unknown>>(
    text: string,
    values: readonly unknown[] = [],
    context: BackfillErrorContext = {},
  ): ResultAsync<PgQueryResult<Row>, BackfillError> {
    return ResultAsync.fromPromise(
      this.withClient((c) => c.query(text, values) as Promise<PgQueryResult<Row>>),
      (e) => pgErrorToBackfill(e, context),
    );
  }

  /** Ends the pool when the library created it from a connection string. */
  async close(): Promise<void> {
    if (this.#owned && isPool(this.#source)) await (this.#source as unknown as pg.Pool).end();
  }
}

/**
 * Runs `fn` inside BEGIN/COMMIT on one client, rolling back on any error.
 */
export async function inTransaction<T>(client: PgClientLike, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const value = await fn();
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
    throw error;
  }
}
