/**
 * The password file (`~/.pgpass`) as libpq reads it, for the CLI's
 * connections. The driver reads it through a deprecated path that prints
 * a Node `DeprecationWarning` naming the driver's API whenever the file
 * gives a password, and that, with `HOME` unset or empty (cron, some
 * service managers), reads `./.pgpass` of the current directory, a file
 * anyone who may write there can plant. libpq takes the home directory
 * of the user running it then.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { Env } from './env.js';

/** What the driver hands a `password` function: the connection it is about to authenticate. */
interface Connecting {
  readonly host?: string;
  readonly port?: number | string;
  readonly database?: string;
  readonly user?: string;
}

/** The home directory libpq reads the password file from: `HOME`, else the running user's (never the current directory). */
function homeDirectory(env: Env): string | undefined {
  const home = env['HOME'] ?? '';
  if (home !== '') return home;
  try {
    return userInfo().homedir || undefined;
  } catch {
    // No passwd entry for this uid: no home, no password file.
    return undefined;
  }
}

/** The password file: `PGPASSFILE`, else `.pgpass` in the home directory. */
export function passwordFilePath(env: Env): string | undefined {
  const named = env['PGPASSFILE'] ?? '';
  if (named !== '') return named;
  const home = homeDirectory(env);
  return home === undefined ? undefined : join(home, '.pgpass');
}

/** The five fields of a password file line (`\` escapes `:` and itself), or undefined for a line with fewer. */
function fieldsOf(line: string): string[] | undefined {
  const fields: string[] = [''];
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      i += 1;
      fields[fields.length - 1] += line[i]!;
    } else if (c === ':' && fields.length < 5) fields.push('');
    else fields[fields.length - 1] += c;
  }
  return fields.length === 5 ? fields : undefined;
}

/** The password of the first line of `text` that matches `c`, as libpq matches them (`*` matches anything). */
export function matchPassword(text: string, c: Connecting): string | undefined {
  // A socket directory matches `localhost`, as libpq has it.
  const host = c.host === undefined || c.host === '' || c.host.startsWith('/') ? 'localhost' : c.host;
  const wanted = [host, String(c.port ?? 5432), c.database ?? c.user ?? '', c.user ?? ''];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const fields = fieldsOf(line);
    if (fields === undefined) continue;
    if (wanted.every((value, i) => fields[i] === '*' || fields[i] === value)) return fields[4];
  }
  return undefined;
}

/**
 * The `password` setting for a connection that names no password (none in
 * its URL, `PGPASSWORD` unset or empty): the password file's, read when
 * the server asks for one. A file that is not a regular file, or that its
 * group or others may read or write, is ignored with a warning (once, however
 * many connections read it), as libpq ignores it. Empty when the
 * connection has a password.
 */
export function passwordFileSetting(settings: pg.PoolConfig, env: Env, warnOf: (message: string) => void): Pick<pg.PoolConfig, 'password'> {
  if ((typeof settings.password === 'string' && settings.password !== '') || (env['PGPASSWORD'] ?? '') !== '') return {};
  const path = passwordFilePath(env);
  if (path === undefined) return {};
  // Each connection reads the file (the command's, the run's pool's, the job engine's): each problem is said once.
  const said = new Set<string>();
  const warn = (message: string): void => {
    if (said.has(message)) return;
    said.add(message);
    warnOf(message);
  };
  const password = async (connecting: Connecting): Promise<string | undefined> => {
    const file = await stat(path).catch(() => undefined);
    if (file === undefined) return undefined;
    if (!file.isFile()) {
      warn(`password file ${path} is not a plain file; it is not read.`);
      return undefined;
    }
    if ((file.mode & 0o077) !== 0) {
      warn(`password file ${path} has group or world access; it is not read. Make it u=rw (chmod 0600 ${path}).`);
      return undefined;
    }
    const text = await readFile(path, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : matchPassword(text, connecting);
  };
  // The driver calls it with the connection's parameters, and takes undefined for no password (its types say neither).
  return { password: password as unknown as () => Promise<string> };
}
