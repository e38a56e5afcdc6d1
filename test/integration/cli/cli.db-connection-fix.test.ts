/**
 * A connection that fails exits 6 with DB_CONNECTION, and its `fix:` line
 * says what to do about that cause (a server not listening, a host name
 * that does not resolve, a missing database or role, no connection slot
 * left, a server that does not answer or offers no SSL), not one sentence
 * for all of them; never with the password of the connection string.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { onServer } from '../../support/pg.js';
import { cli, jsonOf, type CliRun } from './cli-harness.js';

const server = new URL(inject('pgUrl'));
/** A role that may log in but has no connection to spare (CONNECTION LIMIT 0): the server answers 53300. */
const FULL_ROLE = `bk_dbconn_full_${process.pid}`;
/** Its password: a server with password authentication checks it before the limit. */
const FULL_ROLE_PASSWORD = 'full-role-pw';

/** The real server's URL with another user (and password) or database. */
function serverUrl(change: { user?: string; password?: string; database?: string }): string {
  const u = new URL(server.toString());
  if (change.user !== undefined) {
    u.username = change.user;
    u.password = change.password ?? '';
  }
  if (change.database !== undefined) u.pathname = `/${change.database}`;
  return u.toString();
}

/** A port on 127.0.0.1 nothing listens on: one the system gave out, closed again. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Servers that accept and never answer, and that answer an SSLRequest with `N` (no SSL). */
let silent: Server;
let noSsl: Server;
const sockets = new Set<Socket>();
const portOf = (s: Server): number => (s.address() as { port: number }).port;

beforeAll(async () => {
  silent = createServer((socket) => sockets.add(socket));
  noSsl = createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => socket.write('N'));
  });
  await Promise.all([silent, noSsl].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
  await onServer(`CREATE ROLE ${FULL_ROLE} LOGIN PASSWORD '${FULL_ROLE_PASSWORD}' CONNECTION LIMIT 0`);
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([silent, noSsl].map((s) => new Promise((resolve) => s.close(resolve))));
  await onServer(`DROP ROLE IF EXISTS ${FULL_ROLE}`);
});

/** `dataset rollback --dry-run` against `url`: it connects first. */
function rollback(url: string, env: Record<string, string> = {}): Promise<CliRun> {
  return cli(['dataset', 'rollback', '--dry-run', '--pg', url], { env });
}

/** The `fix:` line of the error printed on stderr, after checking it is DB_CONNECTION, exit 6. */
function fixLine(r: CliRun): string {
  expect(r.code, r.stderr).toBe(6);
  expect(r.stderr).toMatch(/^error DB_CONNECTION: /m);
  return /^ {2}fix: {5}(.*)$/m.exec(r.stderr)?.[1] ?? '';
}

describe('the fix line of a failed connection names its cause', () => {
  it('a closed port: nothing listens at host:port; start the server or fix the host and port (no password shown)', async () => {
    const port = await closedPort();
    const r = await rollback(`postgres://ops:s3cret-pw@127.0.0.1:${port}/x`);
    expect(fixLine(r)).toBe(
      `Nothing accepts connections at 127.0.0.1:${port}: start PostgreSQL there (or wait until it is up), or fix the host and port in --pg (or PGURI, PG_DSN, PGHOST, PGPORT).`,
    );
    expect(r.stderr).not.toContain('s3cret-pw');
  }, 60_000);

  it('a host name that cannot resolve: check the host name', async () => {
    const r = await rollback('postgres://postgres@db.backfill-kit.invalid:5432/x');
    expect(fixLine(r)).toBe(
      "The host name db.backfill-kit.invalid does not resolve: check its spelling in --pg (or PGURI, PG_DSN, PGHOST), and this machine's DNS or /etc/hosts.",
    );
  }, 60_000);

  it('a server that never answers: host:port did not answer in time; network, firewall or PGCONNECT_TIMEOUT', async () => {
    const port = portOf(silent);
    const r = await rollback(`postgres://postgres@127.0.0.1:${port}/x?sslmode=disable`, { PGCONNECT_TIMEOUT: '1' });
    expect(fixLine(r)).toBe(
      `127.0.0.1:${port} did not answer in time: check that the host and port in --pg (or PGURI, PG_DSN, PGHOST, PGPORT) are right and that no firewall drops the connection; for a slow server, raise PGCONNECT_TIMEOUT (connect_timeout in the URL).`,
    );
  }, 60_000);

  it('sslmode=require against a server without SSL: the sslmode to set', async () => {
    const r = await rollback(`postgres://postgres@127.0.0.1:${portOf(noSsl)}/x?sslmode=require`);
    expect(fixLine(r)).toBe(
      "The server does not offer SSL, and the connection's sslmode requires it: set sslmode=prefer or disable in the URL (or PGSSLMODE), or turn ssl on in the server.",
    );
  }, 60_000);

  it('a database that does not exist (3D000): fix its name or create it', async () => {
    const r = await rollback(serverUrl({ database: `bk_no_such_db_${process.pid}` }));
    expect(fixLine(r)).toBe(
      'The database the connection names does not exist on this server: fix the database name in --pg (or PGURI, PG_DSN, PGDATABASE), or create it (CREATE DATABASE …) first.',
    );
    expect(r.stderr).toContain('sqlstate/db code: 3D000');
  }, 60_000);

  // A server that trusts the client says the role does not exist (28000); one that asks for a password does not
  // tell a missing role from a wrong password (28P01), and the fix says to check both and pg_hba.conf.
  it('a role that does not exist: fix the user or create the role (28000), or check the login (28P01)', async () => {
    const r = await rollback(serverUrl({ user: `bk_no_such_role_${process.pid}`, password: 'not-the-pw' }));
    const fix = fixLine(r);
    const sqlstate = /^ {2}sqlstate\/db code: (.*)$/m.exec(r.stderr)?.[1];
    expect(['28000', '28P01']).toContain(sqlstate);
    expect(fix).toBe(
      sqlstate === '28000'
        ? 'The user the connection names is not a role on this server, or may not log in: fix the user in --pg (or PGURI, PG_DSN, PGUSER), where none means the OS user, or create the role (CREATE ROLE … LOGIN).'
        : "The server rejected the login: check the user and password (in the URL, PGUSER, PGPASSWORD or ~/.pgpass) and that the server's pg_hba.conf has an entry for this client address, user and database (a hostssl entry also needs sslmode=require).",
    );
    expect(r.stderr).not.toContain('not-the-pw');
  }, 60_000);

  it('no connection slot left (53300, a role at its CONNECTION LIMIT): fewer connections or a higher limit', async () => {
    const r = await rollback(serverUrl({ user: FULL_ROLE, password: FULL_ROLE_PASSWORD }));
    expect(fixLine(r)).toBe(
      "The server has no connection slot left (max_connections, or the role's or database's CONNECTION LIMIT): run fewer connections at once (fewer commands in parallel, a lower statements backfill --workers or statements worker --concurrency), or raise the limit; then rerun.",
    );
    expect(r.stderr).toContain('sqlstate/db code: 53300');
    expect(r.stderr).not.toContain(FULL_ROLE_PASSWORD);
  }, 60_000);

  it('with --json: error.fix is the fix line the text output prints, and dbCode the SQLSTATE', async () => {
    const database = `bk_no_such_db_${process.pid}`;
    const [text, json] = await Promise.all([
      rollback(serverUrl({ database })),
      cli(['dataset', 'rollback', '--dry-run', '--json', '--pg', serverUrl({ database })]),
    ]);
    const doc = jsonOf(json);
    expect(json.code).toBe(6);
    expect(doc.error).toMatchObject({ code: 'DB_CONNECTION', dbCode: '3D000', fix: fixLine(text) });
  }, 60_000);
});
