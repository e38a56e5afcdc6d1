/**
 * PG_DSN in its Npgsql form reaching the real server: a port written in
 * Host, and a database whose name holds every URL delimiter. psql (libpq)
 * is the oracle for what the generated URL means.
 */
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { pgDsnToUrl, pgPoolConfig } from '../../../src/_internals/pg-dsn.js';
import { needTools } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const psqlTool = needTools('psql');
const NAME = `bk dsn/we?ird#+;:%41 "q" ${process.pid}`;
const server = new URL(inject('pgUrl'));
const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The Npgsql form the runbooks write, with the port inside Host. */
function dsn(): string {
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = server.password === '' ? '' : `;Password="${decodeURIComponent(server.password).replaceAll('"', '""')}"`;
  return `Host=${server.hostname}:${server.port || '5432'};Database="${NAME.replaceAll('"', '""')}";Username=${user}${password}`;
}

beforeAll(async () => {
  await admin(`CREATE DATABASE ${quoteIdent(NAME)}`);
  const pool = new pg.Pool({ ...pgPoolConfig(pgDsnToUrl(dsn())._unsafeUnwrap())._unsafeUnwrap(), max: 1 });
  await pool.query(
    'CREATE SCHEMA scanner; CREATE TABLE scanner.artifact_boms (k text, inserted_at timestamptz not null) PARTITION BY RANGE (inserted_at)',
  );
  await pool.end();
});

afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${quoteIdent(NAME)} WITH (FORCE)`);
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
