/**
 * An operator whose shell names a connection service (`PGSERVICE=prod`,
 * the pg_service.conf entry psql connects with) runs the CLI without
 * `--pg`. The driver does not read pg_service.conf: the service's database
 * and user were ignored without a word, and the CLI connected with the
 * other PG* variables alone (the OS user's database, say) or said that no
 * database was configured, telling the operator to set the PG* variables
 * they had set. It now refuses, naming PGSERVICE and what to give instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from './cli-harness.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** The libpq variables of the test database, as a shell profile sets them. */
function libpqEnv(): Record<string, string> {
  const u = new URL(db.url);
  return {
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGUSER: decodeURIComponent(u.username),
    ...(u.password === '' ? {} : { PGPASSWORD: decodeURIComponent(u.password) }),
  };
}

describe('PGSERVICE without a URL', () => {
  it.for([
    { name: 'alone', env: () => ({ PGSERVICE: 'prod' }) },
    { name: 'with PGHOST, PGPORT and PGUSER (no PGDATABASE)', env: () => ({ PGSERVICE: 'prod', ...libpqEnv() }) },
    { name: 'PGSERVICEFILE with PGHOST', env: () => ({ PGSERVICEFILE: '/etc/pg_service.conf', ...libpqEnv() }) },
  ])('$name: refused (exit 2) before connecting, naming the variable', { timeout: 60_000 }, async ({ env }) => {
    const given = env();
    const r = await cli(['partitions', 'list', '--table', 'public.t', '--json'], { env: given });
    const doc = jsonOf(r);
    expect(doc.error?.code, r.stderr).toBe('INVALID_ARGUMENT');
    const variable = 'PGSERVICE' in given ? 'PGSERVICE' : 'PGSERVICEFILE';
    expect(doc.error?.message).toContain(variable);
    expect(doc.error?.message).toMatch(/--pg/);
    expect(r.code).toBe(2);
  });

  it('--pg (or PGURI) names the database: PGSERVICE is then not read, and the command runs', { timeout: 60_000 }, async () => {
    await db.query('CREATE TABLE t (at timestamptz NOT NULL) PARTITION BY RANGE (at)');
    const r = await cli(['partitions', 'list', '--table', 'public.t', '--column', 'at', '--pg', db.url], { env: { PGSERVICE: 'prod' } });
    expect(r.code, r.stderr).toBe(0);
  });
});
