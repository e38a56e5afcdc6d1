import { err, ok, type Result } from 'neverthrow';
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
}

// Npgsql / ADO.NET spellings (lower-cased, spaces removed) → our field.
const KEYS: Record<string, keyof PgDsnConfig> = {
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
    if (!m) return err(bad(`cannot read the keyword/value pair at "${dsn.slice(i).trim().split(/\s/)[0]?.split('=')[0]}…".`));
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
      return err(bad(`"${dsn.slice(i).trim().slice(0, 40)}" has no "=".`));
    }
    const key = dsn.slice(i, eq).trim();
    let j = eq + 1;
    while (dsn[j] === ' ') j++;
    let value = '';
    const quote = dsn[j];
    if (quote === '"' || quote === "'") {
      j++;
      for (;;) {
        if (j >= dsn.length) return err(bad(`the value of ${key} has no closing ${quote}.`));
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
      if (j < dsn.length && dsn[j] !== ';') return err(bad(`unexpected text after the quoted value of ${key}.`));
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
 * `Timeout`, …) are ignored. The password never appears in an error message.
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
  if (/^postgres(ql)?:\/\//i.test(text)) {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      return err(bad('it looks like a URL but does not parse.'));
    }
    const port = u.port === '' ? undefined : Number(u.port);
    const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
    const sslmode = u.searchParams.get('sslmode');
    return ok({
      host: decodeURIComponent(u.hostname) || 'localhost',
      ...(port === undefined ? {} : { port }),
      ...(database === '' ? {} : { database }),
      ...(u.username === '' ? {} : { user: decodeURIComponent(u.username) }),
      ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
      ...(sslmode === null ? {} : { sslmode }),
    });
  }
  // libpq's own keyword form has no semicolons and separates pairs with spaces.
  const libpq = !text.includes(';') && /^[A-Za-z_]+\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)\s+[A-Za-z_]+\s*=/.test(text);
  const pairs = libpq ? splitLibpqPairs(text) : splitPairs(text);
  if (pairs.isErr()) return err(pairs.error);
  const out: { -readonly [K in keyof PgDsnConfig]?: PgDsnConfig[K] } = {};
  for (const [rawKey, value] of pairs.value) {
    const field = KEYS[rawKey.toLowerCase().replaceAll(' ', '')];
    if (field === undefined) continue;
    if (field === 'port') {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 1 || port > 65535) return err(bad(`Port ${JSON.stringify(value)} is not a TCP port.`));
      out.port = port;
    } else if (field === 'sslmode') {
      const mode = SSL_MODES[value.toLowerCase().replaceAll('-', '')];
      if (mode === undefined) return err(bad(`SSL Mode ${JSON.stringify(value)} is not one of ${Object.values(SSL_MODES).join(', ')}.`));
      out.sslmode = mode;
    } else {
      out[field] = value;
    }
  }
  if (out.host === undefined || out.host === '') return err(bad('Host is missing.'));
  return ok(out as PgDsnConfig);
}

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
    const auth = c.user === undefined ? '' : `${encodeURIComponent(c.user)}${c.password === undefined ? '' : `:${encodeURIComponent(c.password)}`}@`;
    const host = c.host.startsWith('/') ? encodeURIComponent(c.host) : c.host.includes(':') && !c.host.startsWith('[') ? `[${c.host}]` : c.host;
    const port = c.port === undefined ? '' : `:${c.port}`;
    const db = c.database === undefined ? '' : `/${encodeURIComponent(c.database)}`;
    const query = c.sslmode === undefined ? '' : `?sslmode=${encodeURIComponent(c.sslmode)}`;
    return `postgres://${auth}${host}${port}${db}${query}`;
  });
}
