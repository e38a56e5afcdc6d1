/**
 * SSL for the CLI's connections as libpq chooses it: `sslmode` from the URL,
 * else `PGSSLMODE`, else `prefer`. The driver alone reads `prefer` and
 * `allow` as "SSL or fail" (so a server without SSL, which psql reaches,
 * was refused) and `require` as `verify-full`; here `prefer` and `allow` use
 * SSL only when the server offers it, `require` encrypts without checking
 * the certificate, `verify-ca` checks it without the host name, and a Unix
 * socket never uses SSL, as in libpq.
 *
 * @module
 */
import { connect } from 'node:net';
import { err, ok, type Result } from 'neverthrow';
import pg from 'pg';
import { BackfillError } from '../errors.js';
import { connectInterrupted, connectTimedOut, locatedNotPostgres, notPostgres } from '../_internals/pg.js';
import type { Env } from './env.js';

const MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;
/** An `sslmode` as libpq reads it. */
export type SslMode = (typeof MODES)[number];

/** The SSL mode and the URL without its `sslmode` (which the driver would read its own way, with a warning). */
export function sslModeOf(url: string | undefined, env: Env): Result<{ mode: SslMode; url: string | undefined }, BackfillError> {
  let fromUrl: string | null = null;
  try {
    fromUrl = url === undefined ? null : new URL(url).searchParams.get('sslmode');
  } catch {
    // pgPoolConfig reports a URL that does not parse.
  }
  const rest = url === undefined ? undefined : withoutParams(url, ['sslmode']);
  const [value, from] = fromUrl !== null ? [fromUrl, 'sslmode in the connection URL'] : [env['PGSSLMODE'] ?? '', 'PGSSLMODE'];
  if (value === '') return ok({ mode: 'prefer', url: rest });
  if ((MODES as readonly string[]).includes(value)) return ok({ mode: value as SslMode, url: rest });
  return err(
    new BackfillError(
      'INVALID_ARGUMENT',
      `${from} must be one of ${MODES.slice(0, 6).join(', ')} (as libpq reads it), not ${JSON.stringify(value)}.`,
    ),
  );
}

type SslSetting = pg.ClientConfig['ssl'];

/** The URL parameters the driver reads into its `ssl` option (which {@link sslPool} decides instead). */
const SSL_PARAMS = ['sslmode', 'ssl', 'sslcert', 'sslkey', 'sslrootcert'] as const;

/**
 * `url` without the parameters the driver reads into its `ssl` option, for
 * a connection given {@link resolvedSsl}'s answer as that option (which
 * the parameters would override). A URL that does not parse is returned as
 * it is.
 */
export function withoutSslParams(url: string): string {
  return withoutParams(url, SSL_PARAMS);
}

/** `url` without the query parameters `names` (as it is when it has none of them, or does not parse). */
function withoutParams(url: string, names: readonly string[]): string {
  try {
    const u = new URL(url);
    if (!names.some((name) => u.searchParams.has(name))) return url;
    for (const name of names) u.searchParams.delete(name);
    return u.toString();
  } catch {
    return url;
  }
}

/** How each pool of {@link sslPool} settles the `ssl` its clients connect with. */
const settled = new WeakMap<pg.Pool, () => Promise<SslSetting>>();

/**
 * The driver's `ssl` option the clients of `pool`, a pool of
 * {@link sslPool}, connect with (asking the server first for `allow` and
 * `prefer`), so that connections opened elsewhere (the job engine's) follow
 * the same SSL settings; `undefined` for any other pool. Rejects as the
 * pool's first connection would when the server does not answer.
 */
export function resolvedSsl(pool: pg.Pool): Promise<SslSetting | undefined> {
  return settled.get(pool)?.() ?? Promise.resolve(undefined);
}

/** The driver's `ssl` for a mode whose answer does not depend on the server; `undefined` for `allow`/`prefer`. */
function fixedSsl(mode: SslMode, given: SslSetting): SslSetting | undefined {
  const options = typeof given === 'object' && given !== null ? given : {};
  if (mode === 'disable') return false;
  if (mode === 'require' || mode === 'no-verify') return { ...options, rejectUnauthorized: false };
  if (mode === 'verify-ca') return { ...options, checkServerIdentity: () => undefined };
  if (mode === 'verify-full') return { ...options };
  return undefined;
}

/**
 * Whether the server at `host:port` accepts SSL: it answers an SSLRequest
 * with `S`. A failure to connect, or a connection closed with no answer,
 * answers false, so that the real connection reports it; a server that does not answer in `timeoutMs` is an error (the
 * real connection would wait as long again). So is an answer that is not
 * PostgreSQL's one byte `S` or `N` ({@link notPostgres}; a well-formed
 * error message of a server too old for SSL, {@link isErrorResponse},
 * answers false): what listens there
 * is not PostgreSQL, and a connection without SSL would only say it was
 * cut.
 */
function offersSsl(host: string, port: number, timeoutMs: number, limit: string, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const interrupted = (): void => done(connectInterrupted(host, port));
    const done = (answer: boolean | Error): void => {
      signal?.removeEventListener('abort', interrupted);
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    if (signal?.aborted === true) return interrupted();
    signal?.addEventListener('abort', interrupted, { once: true });
    if (timeoutMs > 0) socket.setTimeout(timeoutMs, () => done(connectTimedOut(host, port, timeoutMs, limit)));
    socket.once('error', () => done(false));
    // A server that closes the connection at once, without a word (or an error here): it had no S to give.
    socket.once('close', () => done(false));
    socket.once('connect', () => {
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4);
      socket.write(request);
    });
    socket.once('data', (answer) => {
      const only = answer.length === 1 ? answer[0] : undefined;
      done(only === 0x53 ? true : only === 0x4e || isErrorResponse(answer) ? false : notPostgres(host, port));
    });
  });
}

/**
 * Whether `answer` is one whole, well-formed ErrorResponse (`E`, its
 * length, fields of a type byte and a NUL-terminated text, a closing NUL),
 * as a server too old for SSL sends. Anything else that starts with `E`
 * is not PostgreSQL: the driver, which then connects without SSL, reads
 * an error whose fields run past its end for ever (the process spins and
 * no signal stops it).
 */
function isErrorResponse(answer: Buffer): boolean {
  if (answer.length < 6 || answer[0] !== 0x45) return false;
  const end = 1 + answer.readInt32BE(1);
  if (end !== answer.length) return false;
  let at = 5;
  while (answer[at] !== 0) {
    const nul = answer.indexOf(0, at + 1);
    if (nul === -1 || nul >= end - 1) return false;
    at = nul + 1;
  }
  return at === end - 1;
}

/**
 * A pool whose clients connect with the SSL `mode` asks for. For `allow`
 * and `prefer` the first connection asks the server once whether it offers
 * SSL and every client follows that answer.
 */
export function sslPool(
  mode: SslMode,
  config: pg.PoolConfig,
  Client: new (config?: pg.ClientConfig) => pg.Client,
  connectTimeoutMs: number,
  signal?: AbortSignal,
  /** What set `connectTimeoutMs`, as a message names it. */
  connectTimeoutFrom = 'PGCONNECT_TIMEOUT',
): pg.Pool {
  const fixed = fixedSsl(mode, config.ssl);
  // Read host and port as the driver does (the URL, else PGHOST/PGPORT, else its defaults).
  const probe = new pg.Client({ ...config, ssl: false });
  const socket = probe.host.startsWith('/');
  let ssl: SslSetting = socket ? false : fixed === undefined ? false : fixed;
  let decided: Promise<void> | undefined = socket || fixed !== undefined ? Promise.resolve() : undefined;
  const Chosen = class extends Client {
    constructor(clientConfig?: pg.ClientConfig) {
      super({ ...clientConfig, password: clientConfig?.password, ssl });
    }
  };
  const decide = (): Promise<void> =>
    (decided ??= offersSsl(probe.host, probe.port, connectTimeoutMs, connectTimeoutFrom, signal).then(
      (offered) => {
        // libpq checks no certificate in these modes.
        ssl = offered ? { ...(typeof config.ssl === 'object' ? config.ssl : {}), rejectUnauthorized: false } : false;
      },
      (error: unknown) => {
        // Asked again on the next connection.
        decided = undefined;
        throw error;
      },
    ));
  const created = new (class extends pg.Pool {
    override connect(): Promise<pg.PoolClient>;
    override connect(
      callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
    ): void;
    override connect(
      callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
    ): Promise<pg.PoolClient> | undefined {
      // The driver's error for an SSL request answered with neither S nor N names no address: this pool's.
      const located = (error: unknown): Error => locatedNotPostgres(error, probe.host, probe.port) as Error;
      if (callback === undefined)
        return decide()
          .then(() => super.connect())
          .catch((error: unknown) => {
            throw located(error);
          });
      decide().then(
        () => super.connect((error, client, done) => callback(error === undefined ? error : located(error), client, done)),
        (error: Error) => callback(error, undefined, () => undefined),
      );
      return undefined;
    }
  })({ ...config, Client: Chosen });
  settled.set(created, () => decide().then(() => ssl));
  return created;
}
