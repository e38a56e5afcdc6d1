import { err, ok, type Result } from 'neverthrow';
import type pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { BackfillError } from '../errors.js';

/**
 * Connection settings read from a DSN. The field names match `pg.ClientConfig`,
 * so the object can be handed to `new pg.Pool(...)` as it is.
 */
export interface PgDsnConfig {
  readonly host: string;
  readonly port?: number;
  readonly database?: string;
  readonly user?: string;
  readonly password?: string;
  /** libpq `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`). */
  readonly sslmode?: string;
  /**
   * The libpq keywords the driver reads from a URL's query as libpq does
   * ({@link PASSED_ON}), as written.
   */
  readonly params?: Readonly<Record<string, string>>;
}

/**
 * libpq keywords honoured as libpq does when they come in a URL's query (by
 * the driver; `connect_timeout` by the CLI): the keyword form passes them on there.
 */
const PASSED_ON = [
  'sslrootcert',
  'sslcert',
  'sslkey',
  'application_name',
  'fallback_application_name',
  'options',
  'client_encoding',
  'connect_timeout',
] as const;

/**
 * libpq keywords the driver would ignore (or read its own way), refused in
 * either form with what to do instead: dropped, a TLS or session setting
 * would be lost without a word.
 */
const REFUSED: Record<string, string> = {
  target_session_attrs: 'name the host of the server wanted (one host is connected to, as it is)',
  load_balance_hosts: 'name one host',
  passfile: 'give the password in the connection string or PGPASSWORD',
  service: "write the service's settings into the connection string",
  sslpassword: 'use a key file that is not encrypted',
  sslcrl: 'remove it (certificate revocation lists are not checked)',
  sslcrldir: 'remove it (certificate revocation lists are not checked)',
  sslcertmode: 'remove it (sslcert is sent when given)',
  sslsni: 'remove it (the host name is always sent)',
  sslnegotiation: 'remove it (SSL is negotiated as libpq does by default)',
  sslcompression: 'remove it',
  ssl_min_protocol_version: "remove it (the TLS versions are Node.js's defaults)",
  ssl_max_protocol_version: "remove it (the TLS versions are Node.js's defaults)",
  requiressl: 'use sslmode=require',
  require_auth: 'remove it',
  channel_binding: 'remove it',
  gssencmode: 'remove it (GSSAPI is not supported)',
  gsslib: 'remove it (GSSAPI is not supported)',
  gssdelegation: 'remove it (GSSAPI is not supported)',
  krbsrvname: 'remove it (GSSAPI is not supported)',
  requirepeer: 'remove it',
  replication: 'remove it',
  keepalives: 'remove it',
  keepalives_idle: 'remove it',
  keepalives_interval: 'remove it',
  keepalives_count: 'remove it',
  tcp_user_timeout: 'remove it',
};

/** Npgsql's names (lower-cased, spaces removed) for libpq keywords above. */
const NPGSQL_NAMES: Record<string, string> = {
  applicationname: 'application_name',
  rootcertificate: 'sslrootcert',
  sslcertificate: 'sslcert',
  targetsessionattributes: 'target_session_attrs',
  loadbalancehosts: 'load_balance_hosts',
  passfile: 'passfile',
  sslpassword: 'sslpassword',
  keepalive: 'keepalives_idle',
  tcpkeepalive: 'keepalives',
};

/** The libpq keyword `rawKey` is, in either form, or `undefined`. */
function libpqKeyword(rawKey: string): string | undefined {
  const key = rawKey.trim().toLowerCase();
  if ((PASSED_ON as readonly string[]).includes(key) || Object.hasOwn(REFUSED, key)) return key;
  return NPGSQL_NAMES[key.replaceAll(' ', '')];
}

const refused = (written: string, keyword = written): BackfillError =>
  bad(
    `${written} is not supported; ${REFUSED[keyword]}. The libpq keywords read are host, hostaddr, port, dbname, user, password, sslmode and ${PASSED_ON.join(', ')}.`,
  );

// Npgsql / ADO.NET spellings (lower-cased, spaces removed) → our field.
const KEYS: Record<string, Exclude<keyof PgDsnConfig, 'params'>> = {
  host: 'host',
  server: 'host',
  port: 'port',
  database: 'database',
  db: 'database',
  dbname: 'database',
  hostaddr: 'host',
  initialcatalog: 'database',
  username: 'user',
  user: 'user',
  userid: 'user',
  uid: 'user',
  password: 'password',
  pwd: 'password',
  sslmode: 'sslmode',
};

const SSL_MODES: Record<string, string> = {
  disable: 'disable',
  allow: 'allow',
  prefer: 'prefer',
  require: 'require',
  verifyca: 'verify-ca',
  verifyfull: 'verify-full',
};

const bad = (message: string): BackfillError => new BackfillError('INVALID_ARGUMENT', `PG_DSN: ${message}`);

/**
 * Where a pair that does not parse sits, without quoting any of the text:
 * what follows a `;` or a blank may be the rest of a password.
 */
function pairPosition(pairs: readonly [string, string][]): string {
  const previous = pairs.at(-1);
  return previous === undefined ? 'pair 1' : `pair ${pairs.length + 1} (after ${keyName(previous[0])})`;
}

/** A keyword as the message may show it: a known one by name, anything else (maybe part of a value) not at all. */
function keyName(rawKey: string): string {
  return fieldOf(rawKey) === undefined && libpqKeyword(rawKey) === undefined ? 'an unknown keyword' : rawKey.trim();
}

function fieldOf(rawKey: string): Exclude<keyof PgDsnConfig, 'params'> | undefined {
  return KEYS[rawKey.toLowerCase().replaceAll(' ', '')];
}

/**
 * Splits libpq's `host=h port=5432 dbname=d password='a b\\'c'` form:
 * whitespace-separated pairs, single quotes with backslash escapes.
 */
function splitLibpqPairs(dsn: string): Result<[string, string][], BackfillError> {
  const pairs: [string, string][] = [];
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))/y;
  let i = 0;
  while (i < dsn.length) {
    if (/^\s*$/.test(dsn.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(dsn);
    if (!m) return err(bad(`cannot read ${pairPosition(pairs)} as keyword=value; quote a value that holds blanks or quotes ('a b\\'c').`));
    pairs.push([m[1]!, m[2] === undefined ? (m[3] ?? '') : m[2].replace(/\\(.)/g, '$1')]);
    i = re.lastIndex;
  }
  return ok(pairs);
}

/** Splits `Key=Value;Key='quoted;value'` pairs; `''` inside quotes is one quote. */
function splitPairs(dsn: string): Result<[string, string][], BackfillError> {
  const pairs: [string, string][] = [];
  let i = 0;
  while (i < dsn.length) {
    const eq = dsn.indexOf('=', i);
    if (eq < 0) {
      if (dsn.slice(i).trim() === '') break;
      return err(bad(`${pairPosition(pairs)} has no "="; a value that holds ";" must be quoted (Password="a;b").`));
    }
    const key = dsn.slice(i, eq).trim();
    let j = eq + 1;
    while (dsn[j] === ' ') j++;
    let value = '';
    const quote = dsn[j];
    if (quote === '"' || quote === "'") {
      j++;
      for (;;) {
        if (j >= dsn.length) return err(bad(`the value of ${keyName(key)} has no closing ${quote}.`));
        if (dsn[j] === quote) {
          if (dsn[j + 1] === quote) {
            value += quote;
            j += 2;
            continue;
          }
          j++;
          break;
        }
        value += dsn[j];
        j++;
      }
      while (dsn[j] === ' ') j++;
      if (j < dsn.length && dsn[j] !== ';') return err(bad(`unexpected text after the quoted value of ${keyName(key)}.`));
    } else {
      const end = dsn.indexOf(';', j);
      value = (end < 0 ? dsn.slice(j) : dsn.slice(j, end)).trim();
      j = end < 0 ? dsn.length : end;
    }
    pairs.push([key, value]);
    i = j + 1;
  }
  return ok(pairs);
}

/**
 * Reads `PG_DSN` in either form the runbooks use: a `postgres://` URL, or the
 * Npgsql keyword form `Host=…;Database=…;Username=…;Password=…;Port=…`
 * (libpq's `host=… dbname=… user=…` form is read too).
 * Keys are case-insensitive; values may be quoted. Unknown keys (`Pooling`,
 * `Timeout`, …) of the Npgsql form are ignored; libpq's form refuses them
 * (as libpq does, without naming them: they may be part of a value). The
 * libpq keywords {@link PASSED_ON} are kept in `params`, in either form;
 * the rest of libpq's ({@link REFUSED}) are refused in any form, URLs included,
 * naming the keyword. The password never appears in an error message.
 *
 * @example
 * ```ts
 * parsePgDsn('Host=db;Database=scanner;Username=ops;Password=s3cret;Port=5433');
 * // ok({ host: 'db', port: 5433, database: 'scanner', user: 'ops', password: 's3cret' })
 * ```
 */
export function parsePgDsn(dsn: string): Result<PgDsnConfig, BackfillError> {
  if (typeof dsn !== 'string' || dsn.trim() === '') return err(bad('it is empty; set it to a postgres:// URL or Host=…;Database=….'));
  const text = dsn.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) return parseUrl(text);
  // libpq's own keyword form has no semicolons and separates pairs with spaces.
  const libpq = !text.includes(';') && /^[A-Za-z_]+\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)\s+[A-Za-z_]+\s*=/.test(text);
  const pairs = libpq ? splitLibpqPairs(text) : splitPairs(text);
  if (pairs.isErr()) return err(pairs.error);
  const out: { -readonly [K in keyof PgDsnConfig]?: PgDsnConfig[K] } = {};
  const params: Record<string, string> = {};
  let portInHost: number | undefined;
  for (const [index, [rawKey, value]] of pairs.value.entries()) {
    const key = libpqKeyword(rawKey);
    if (key !== undefined && Object.hasOwn(REFUSED, key)) return err(refused(rawKey.trim(), key));
    if (key !== undefined) {
      params[key] = value;
      continue;
    }
    const field = fieldOf(rawKey);
    if (field === undefined) {
      if (libpq)
        return err(
          bad(`pair ${index + 1} has an unknown keyword (libpq refuses it too); check its spelling, or quote a value that holds blanks.`),
        );
      continue;
    }
    if (field === 'host') {
      const host = splitHost(value);
      if (host.isErr()) return err(host.error);
      out.host = host.value.host;
      portInHost = host.value.port;
    } else if (field === 'port') {
      const port = tcpPort(value, 'Port');
      if (port.isErr()) return err(port.error);
      out.port = port.value;
    } else if (field === 'sslmode') {
      const mode = SSL_MODES[value.toLowerCase().replaceAll('-', '')];
      if (mode === undefined) return err(bad(`SSL Mode is not one of ${Object.values(SSL_MODES).join(', ')}.`));
      out.sslmode = mode;
    } else {
      out[field] = value;
    }
  }
  if (out.host === undefined || out.host === '') return err(bad('Host is missing.'));
  // As in Npgsql, a port written in Host wins over Port, which is the default for hosts without one.
  if (portInHost !== undefined) out.port = portInHost;
  if (Object.keys(params).length > 0) out.params = params;
  return ok(out as PgDsnConfig);
}

function parseUrl(text: string): Result<PgDsnConfig, BackfillError> {
  try {
    const u = new URL(text);
    const refusedParam = [...u.searchParams.keys()].find((name) => Object.hasOwn(REFUSED, name));
    if (refusedParam !== undefined) return err(refused(refusedParam));
    const port = u.port === '' ? undefined : Number(u.port);
    const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
    const sslmode = u.searchParams.get('sslmode');
    if (isHostList(decodeURIComponent(u.hostname))) return err(bad(HOST_LIST_REFUSED));
    return ok({
      host: decodeURIComponent(u.hostname) || 'localhost',
      ...(port === undefined ? {} : { port }),
      ...(database === '' ? {} : { database }),
      ...(u.username === '' ? {} : { user: decodeURIComponent(u.username) }),
      ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
      ...(sslmode === null ? {} : { sslmode }),
    });
  } catch {
    // A host list with ports (`a:5432,b:5433`) is no URL host at all.
    if (urlListsHosts(text)) return err(bad(HOST_LIST_REFUSED));
    // Neither the URL nor its pieces are quoted: the message must not carry the password.
    return err(bad(`it looks like a URL but does not parse (${whyUrlDoesNotParse(text)}).`));
  }
}

function tcpPort(value: string, what: string): Result<number, BackfillError> {
  const port = Number(value);
  return /^\d+$/.test(value.trim()) && port >= 1 && port <= 65535 ? ok(port) : err(bad(`${what} is not a TCP port (1 to 65535).`));
}

/**
 * Npgsql's `Host`: a name, an address, a socket directory (`/…`), and
 * optionally a port (`db:5433`, `[::1]:5433`). A bare IPv6 address has
 * several colons and no port. Several comma-separated hosts (Npgsql's
 * failover) are refused: the driver connects to one.
 */
function splitHost(value: string): Result<{ host: string; port?: number }, BackfillError> {
  if (value.startsWith('/')) return ok({ host: value });
  if (isHostList(value)) return err(bad(HOST_LIST_REFUSED));
  const withPort = /^\[([^\]]+)\](?::([^:]*))?$/.exec(value) ?? /^([^:]+):([^:]*)$/.exec(value);
  const [, host, port] = (withPort ?? [value, value, undefined]) as [string, string, string | undefined];
  // The host becomes part of a URL: anything but a name or an address could rewrite the
  // URL's other parts (`db?sslmode=disable`, `db/otherdb`, `evil@db`).
  if (!HOST_NAME.test(host) && !IPV6.test(host)) return err(bad('Host is not a host name, an IP address or a socket directory (/…).'));
  if (port === undefined) return ok({ host });
  return tcpPort(port, 'The port in Host').map((p) => ({ host, port: p }));
}

/**
 * Whether the host part of a `postgres://` URL (after the last `@` of its
 * authority: a comma in the user name or password is none of the host's)
 * lists several hosts.
 */
function urlListsHosts(text: string): boolean {
  const host = urlHost(text);
  return host !== undefined && isHostList(host);
}

/** The host (and port) of a URL's authority, after its last `@`; undefined when it is no `postgres://` URL. */
function urlHost(text: string): string | undefined {
  const authority = /^postgres(?:ql)?:\/\/([^/?#]*)/i.exec(text)?.[1];
  return authority?.slice(authority.lastIndexOf('@') + 1);
}

/**
 * What to check in a URL that does not parse: a port that is no TCP port
 * (`db:99999`, a typo the percent-encoding hint would send the operator
 * away from), else its percent-encoding. Quotes nothing of the URL: an
 * unencoded `/` in a password can put its text where the port would be.
 */
function whyUrlDoesNotParse(text: string): string {
  const port = /(?:^[^:\]]*|\]):([^:]*)$/.exec(urlHost(text) ?? '')?.[1];
  return port !== undefined && port !== '' && tcpPort(port, 'Port').isErr()
    ? 'its port is not a TCP port from 1 to 65535'
    : 'check its percent-encoding';
}

/** Why a host list (libpq's and Npgsql's multi-host `a,b`) is refused, in every form that names one. */
export const HOST_LIST_REFUSED = 'Host lists several hosts; name one (multi-host failover is not supported).';

/**
 * Whether `host` lists several hosts (`a,b`): the driver connects to one
 * and would look the list up as one name. A socket directory (`/…`) is a
 * path, whatever it holds.
 */
export function isHostList(host: string): boolean {
  return !host.startsWith('/') && host.includes(',');
}

/** A DNS name or an IPv4 address: letters, digits, dots, hyphens and underscores. */
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
/** An IPv6 address. */
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

/**
 * The same settings as a `postgres://` URL (user, password and a socket-path
 * host percent-encoded), ready for `new pg.Pool({ connectionString })` or any
 * `pg` option that takes a `PgSource` string.
 *
 * @example
 * ```ts
 * pgDsnToUrl('Host=db;Database=scanner;Username=ops;Password=p@ss'); // ok('postgres://ops:p%40ss@db/scanner')
 * ```
 */
export function pgDsnToUrl(dsn: string): Result<string, BackfillError> {
  // A URL is passed through untouched, keeping any options we do not model.
  return parsePgDsn(dsn).map((c) => {
    if (/^postgres(ql)?:\/\//i.test(dsn.trim())) return dsn.trim();
    // A password without a user is kept (`postgres://:pw@h`): the driver then uses the default user, as Npgsql and libpq do.
    const user = c.user === undefined ? '' : encodeURIComponent(c.user);
    const password = c.password === undefined ? '' : `:${encodeURIComponent(c.password)}`;
    const auth = user === '' && password === '' ? '' : `${user}${password}@`;
    const host = c.host.startsWith('/')
      ? encodeURIComponent(c.host)
      : c.host.includes(':') && !c.host.startsWith('[')
        ? `[${c.host}]`
        : c.host;
    const port = c.port === undefined ? '' : `:${c.port}`;
    const db = c.database === undefined ? '' : `/${encodeURIComponent(c.database)}`;
    // Percent-encoded (not `+` for a blank, which libpq would read as it is).
    const query = Object.entries({ ...(c.sslmode === undefined ? {} : { sslmode: c.sslmode }), ...c.params })
      .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
      .join('&');
    return `postgres://${auth}${host}${port}${db}${query === '' ? '' : `?${query}`}`;
  });
}

/**
 * `pg.Pool` settings for a `postgres://` URL: pg's own parser reads it,
 * except the database name, which pg leaves partly encoded (it decodes the
 * path with `decodeURI`, so `%2F %3F %23 %2B %3B %3A …` stay as they are)
 * while libpq and psql decode it fully. Throws no error: a URL pg cannot
 * read is `INVALID_ARGUMENT`, an SSL file it names that cannot be read `IO_ERROR`.
 *
 * @example
 * ```ts
 * pgPoolConfig('postgres://u@db/a%2Fb%3Fc'); // ok({ host: 'db', user: 'u', database: 'a/b?c', … })
 * ```
 */
export function pgPoolConfig(url: string): Result<pg.PoolConfig, BackfillError> {
  let config: pg.ClientConfig;
  try {
    config = parseIntoClientConfig(url);
  } catch (thrown) {
    const unreadable = unreadableSslFile(url, thrown);
    if (unreadable !== undefined) return err(unreadable);
    return err(new BackfillError('INVALID_ARGUMENT', `The connection URL does not parse; ${whyUrlDoesNotParse(url)}.`));
  }
  const database = databaseOfUrl(url);
  return ok(database === undefined ? config : { ...config, database });
}

/**
 * pg reads the files a URL's `sslrootcert`, `sslcert` and `sslkey` name as
 * it parses the URL: a file it cannot read is `IO_ERROR` naming the
 * parameter and the path (never the file's content), not a URL that "does not parse".
 */
function unreadableSslFile(url: string, thrown: unknown): BackfillError | undefined {
  const { code, path } = (thrown ?? {}) as { code?: unknown; path?: unknown };
  if (typeof code !== 'string' || typeof path !== 'string') return undefined;
  let param: string | undefined;
  try {
    const query = new URL(url).searchParams;
    param = ['sslrootcert', 'sslcert', 'sslkey'].find((name) => query.get(name) === path);
  } catch {
    return undefined;
  }
  return param === undefined
    ? undefined
    : new BackfillError('IO_ERROR', `${param} ${path} cannot be read (${code}); check the path and its permissions.`, { cause: thrown });
}

/** The URL's database name, fully percent-decoded, or `undefined` to keep pg's reading. */
function databaseOfUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    const path = u.pathname.slice(1);
    return !/^postgres(ql)?:$/i.test(u.protocol) || path === '' ? undefined : decodeURIComponent(path);
  } catch {
    return undefined;
  }
}
