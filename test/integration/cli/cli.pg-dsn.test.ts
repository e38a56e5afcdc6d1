/**
 * PG_DSN in its Npgsql form reaching the real server: a port written in
 * Host, and a database whose name holds every URL delimiter. psql (libpq)
 * is the oracle for what the generated URL means.
 */
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { pgDsnToUrl, pgPoolConfig } from '../../../src/_internals/pg-dsn.js';
import { cliPgConnection } from '../../../src/cli/pg-connection.js';
import { needTools } from '../../support/tmp.js';
import { onServer } from '../../support/pg.js';
import { cli, jsonOf } from './cli-harness.js';

const psqlTool = needTools('psql');
const NAME = `bk dsn/we?ird#+;:%41 "q" ${process.pid}`;
const server = new URL(inject('pgUrl'));
const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** The Npgsql form the runbooks write, with the port inside Host. */
function dsn(): string {
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = server.password === '' ? '' : `;Password="${decodeURIComponent(server.password).replaceAll('"', '""')}"`;
  return `Host=${server.hostname}:${server.port || '5432'};Database="${NAME.replaceAll('"', '""')}";Username=${user}${password}`;
}

beforeAll(async () => {
  await onServer(`CREATE DATABASE ${quoteIdent(NAME)}`);
  const pool = new pg.Pool({ ...pgPoolConfig(pgDsnToUrl(dsn())._unsafeUnwrap())._unsafeUnwrap(), max: 1 });
  await pool.query(
    'CREATE SCHEMA scanner; CREATE TABLE scanner.artifact_boms (k text, inserted_at timestamptz not null) PARTITION BY RANGE (inserted_at)',
  );
  await pool.end();
});

afterAll(async () => {
  await onServer(`DROP DATABASE IF EXISTS ${quoteIdent(NAME)} WITH (FORCE)`);
});

describe('PG_DSN against the real server', () => {
  it('the library connects to the database named in the DSN, delimiters and all', async () => {
    const pool = new pg.Pool({ ...pgPoolConfig(pgDsnToUrl(dsn())._unsafeUnwrap())._unsafeUnwrap(), max: 1 });
    try {
      expect((await pool.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db).toBe(NAME);
    } finally {
      await pool.end();
    }
  });

  it.skipIf(psqlTool.missing)(psqlTool.title('psql reads the generated URL as the same database'), () => {
    const url = pgDsnToUrl(dsn())._unsafeUnwrap();
    const r = spawnSync('psql', [url, '-XAtc', 'SELECT current_database()'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(NAME);
  });

  it('the CLI connects through PG_DSN with host:port and lists the partitions', async () => {
    const r = await cli(['partitions', 'list', '--table', 'scanner.artifact_boms', '--json', '--debug'], { env: { PG_DSN: dsn() } });
    expect(r.code, r.stderr).toBe(0);
    expect(jsonOf(r)).toMatchObject({ ok: true, report: [] });
  });
});

/** libpq's `host=… port=… dbname=… user=…` form of the test server, with `extra` keywords. */
function libpqDsn(extra: string): string {
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = server.password === '' ? '' : ` password='${decodeURIComponent(server.password).replace(/['\\]/g, '\\$&')}'`;
  return `host=${server.hostname} port=${server.port || '5432'} dbname=postgres user=${user}${password} ${extra}`;
}

describe("libpq's keyword form: every keyword is read or refused", () => {
  it('application_name and options reach the server, as from a URL', async () => {
    const c = cliPgConnection(
      libpqDsn("sslmode=disable application_name='bk dsn app' options='-c search_path=bk_a,public'"),
      {},
      [],
    )._unsafeUnwrap();
    const pool = new pg.Pool({ ...c.settings, ssl: false, max: 1 });
    try {
      const row = (
        await pool.query<{ app: string; path: string }>(
          "SELECT a.application_name AS app, current_setting('search_path') AS path FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid()",
        )
      ).rows[0];
      expect(row).toEqual({ app: 'bk dsn app', path: 'bk_a,public' });
    } finally {
      await pool.end();
    }
  });

  it('sslrootcert reaches the connection: a file that cannot be read is IO_ERROR naming it (it was ignored, and the CLI connected)', async () => {
    const r = await cli(['partitions', 'list', '--json'], {
      env: { PG_DSN: libpqDsn('sslmode=verify-full sslrootcert=/nonexistent/bk-ca.pem') },
    });
    expect(r.code, r.stderr).toBe(8);
    expect(r.stdout).toContain('sslrootcert /nonexistent/bk-ca.pem cannot be read');
  });

  it.for(['target_session_attrs=read-write', 'sslcrl=/etc/crl.pem', 'service=prod'])(
    '%s is a usage error naming the keyword (exit 2), not dropped',
    async (extra) => {
      const r = await cli(['partitions', 'list', '--pg', libpqDsn(extra)]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^error INVALID_ARGUMENT: --pg: ${extra.split('=')[0]} is not supported; `, 'm'));
    },
  );
});
