/**
 * The environment variables the runbooks use, read in one place: database
 * (`PGURI`, `CONCELIER_PG_URI`, `PG_DSN` in URL or `Host=…;Database=…` form,
 * then the libpq `PG*` variables), `PGSCHEMA`, `DRY_RUN`, `LINKSETS_TABLE`,
 * `CHUNKS_TABLE`.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { pgDsnToUrl } from '../_internals/pg-dsn.js';
import { maskSecrets } from './secrets.js';

/** The environment as the CLI sees it (injectable for tests). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Variables that name a database, in the order the dataset runbook reads them. */
export const DATASET_DB_VARS = ['PGURI', 'CONCELIER_PG_URI', 'PG_DSN'] as const;
/** The partition runbook reads `PG_DSN` first. */
export const PARTITION_DB_VARS = ['PG_DSN', 'PGURI', 'CONCELIER_PG_URI'] as const;

/** The variable that forces a dry run on every command that has one. */
export const DRY_RUN_VAR = 'DRY_RUN';

/** libpq variables that, when set, let the driver connect without a URL. */
const LIBPQ_VARS = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGSSLMODE'] as const;

/** libpq variables of a connection service, which the driver does not read (see {@link resolvePgTarget}). */
const SERVICE_VARS = ['PGSERVICE', 'PGSERVICEFILE'] as const;

/** Where the CLI will connect, and what told it to. */
export interface PgTarget {
  /** A `postgres://` URL, or undefined to let the driver read the libpq `PG*` variables. */
  readonly connectionString: string | undefined;
  /** `--pg`, `PGURI`, `PG_DSN`, … or `libpq PG* variables`. */
  readonly from: string;
  /** The target without its password, for logs. */
  readonly display: string;
}

function target(value: string, from: string): Result<PgTarget, BackfillError> {
  return pgDsnToUrl(value)
    .map((url) => ({ connectionString: url, from, display: maskSecrets(url) }))
    .mapErr((e) => new BackfillError('INVALID_ARGUMENT', `${from}: ${e.message.replace(/^PG_DSN: /, '')}`, { cause: e }));
}

/**
 * Picks the database: `--pg` first, then the variables in `order`, then the
 * libpq `PG*` variables. Every form `PG_DSN` takes is accepted by each of them.
 * `PGSERVICE` (or `PGSERVICEFILE`) without a URL is refused: the driver
 * reads no connection service, so its database and user would be ignored.
 *
 * @example
 * ```ts
 * resolvePgTarget(undefined, { PG_DSN: 'Host=db;Database=scanner' }, PARTITION_DB_VARS);
 * // ok({ connectionString: 'postgres://db/scanner', from: 'PG_DSN', … })
 * ```
 */
export function resolvePgTarget(flag: string | undefined, env: Env, order: readonly string[]): Result<PgTarget, BackfillError> {
  if (flag !== undefined && flag !== '') return target(flag, '--pg');
  for (const name of order) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return target(value, name);
  }
  // libpq would take the database, user and host from the service's entry; the driver reads no pg_service.conf, and
  // would connect with the other PG* variables alone: to the user's database, perhaps not the service's.
  const service = SERVICE_VARS.find((name) => (env[name] ?? '') !== '');
  if (service !== undefined)
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        `${service}=${env[service]} names a connection service (pg_service.conf), which backfill-kit cannot read: pass the service's settings with --pg <url> (or ${order.join(', ')}), or PGHOST, PGPORT, PGDATABASE and PGUSER, and unset ${service}.`,
      ),
    );
  const libpq = LIBPQ_VARS.filter((name) => (env[name] ?? '') !== '');
  if (libpq.length > 0) {
    const host = env['PGHOST'] ?? env['PGHOSTADDR'] ?? 'localhost';
    const display = `${env['PGUSER'] ?? ''}${env['PGUSER'] ? '@' : ''}${host}:${env['PGPORT'] ?? '5432'}/${env['PGDATABASE'] ?? ''}`;
    return ok({ connectionString: undefined, from: `libpq ${libpq.join(', ')}`, display });
  }
  return err(
    new BackfillError(
      'INVALID_ARGUMENT',
      `no database configured: pass --pg <url> or set ${order.join(', ')} (a postgres:// URL or Host=…;Database=…), or the libpq PG* variables.`,
    ),
  );
}

/**
 * Whether a boolean flag's environment variable turns the flag on. The
 * environment may make a command safer, never less safe: a true value
 * (`DRY_RUN=1`) turns the flag on even over the command line, while a false
 * one (`DRY_RUN=0`) changes nothing, so a drop, detach or write always takes
 * an explicit argument. A value that is neither is `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * envTurnsOn('DRY_RUN', { DRY_RUN: 'false' }); // ok(false): the flag keeps its command-line value or default
 * ```
 */
export function envTurnsOn(name: string, env: Env): Result<boolean, BackfillError> {
  const value = env[name];
  return value === undefined || value === '' ? ok(false) : parseBoolean(value, name);
}

/** `1`, `true`, `yes`, `on` are true; `0`, `false`, `no`, `off` and empty are false. */
export function parseBoolean(value: string, name: string): Result<boolean, BackfillError> {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return ok(true);
  if (['', '0', 'false', 'no', 'off'].includes(v)) return ok(false);
  return err(new BackfillError('INVALID_ARGUMENT', `${name} must be true or false (1/0, yes/no), not ${JSON.stringify(value)}.`));
}
