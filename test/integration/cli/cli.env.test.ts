import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
const dead = 'postgres://nobody:s3cr3t@127.0.0.1:1/none';

beforeAll(async () => {
  db = await createTestDatabase();
  await db.query(
    'CREATE SCHEMA lnm_raw; CREATE TABLE lnm_raw.linksets_raw (id text primary key, raw jsonb not null); CREATE TABLE lnm_raw.advisory_chunks_raw (id text primary key, raw jsonb not null)',
  );
  await db.query(
    'CREATE SCHEMA scanner; CREATE TABLE scanner.artifact_boms (k text, inserted_at timestamptz not null) PARTITION BY RANGE (inserted_at)',
  );
});
afterAll(async () => {
  await db.drop();
});

describe('which database the CLI connects to', () => {
  it('dataset commands read PGURI before CONCELIER_PG_URI and PG_DSN, as the dataset runbook sets them', async () => {
    const r = await cli(['dataset', 'rollback', '--dry-run', '--debug'], { env: { PGURI: db.url, CONCELIER_PG_URI: dead, PG_DSN: dead } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/connecting to .* \(from PGURI\)/);
    const concelier = await cli(['dataset', 'rollback', '--dry-run'], { env: { CONCELIER_PG_URI: db.url, PG_DSN: dead } });
    expect(concelier.code, concelier.stderr).toBe(0);
  });

  it('partition commands read PG_DSN first, as the partition runbook sets it; --pg beats every variable', async () => {
    const r = await cli(['partitions', 'list'], { env: { PG_DSN: dead, PGURI: db.url } });
    expect(r.code).toBe(6);
    expect(r.stderr + r.stdout).not.toContain('s3cr3t');
    const flag = await cli(['partitions', 'list', '--pg', db.url], { env: { PG_DSN: dead, PGURI: dead } });
    expect(flag.code, flag.stderr).toBe(0);
  });

  it('the libpq PG* variables work when no URL is given', async () => {
    const u = new URL(db.url);
    const r = await cli(['dataset', 'rollback', '--dry-run', '--debug'], {
      env: {
        PGHOST: u.hostname,
        PGPORT: u.port || '5432',
        PGDATABASE: u.pathname.slice(1),
        PGUSER: decodeURIComponent(u.username) || 'postgres',
        ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}),
      },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\(from libpq PGHOST/);
  });

  it('PGSCHEMA, LINKSETS_TABLE and CHUNKS_TABLE name the staging tables', async () => {
    await db.query(
      'CREATE SCHEMA other; CREATE TABLE other.ls (id text primary key, raw jsonb not null); CREATE TABLE other.ch (id text primary key, raw jsonb not null)',
    );
    await db.query(`INSERT INTO other.ls VALUES ('a', '{}')`);
    const r = await cli(['dataset', 'rollback', '--json'], {
      env: { PGURI: db.url, PGSCHEMA: 'other', LINKSETS_TABLE: 'ls', CHUNKS_TABLE: 'ch' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).report).toMatchObject({ before: { ls: 1, ch: 0 }, after: { ls: 0, ch: 0 } });
  });
});

describe('a bad value from an environment variable', () => {
  it('names the variable, not only the flag the operator never typed', async () => {
    const r = await cli(['dataset', 'build', 'never-written.tar.zst', '--json'], { env: { SOURCE_DATE_EPOCH: 'abc' } });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(
      /^SOURCE_DATE_EPOCH \(read for --mtime\) must be an integer from 0 to 2147483647, not "abc"/,
    );
  });

  it('the same value typed as the flag still names the flag alone', async () => {
    const r = await cli(['dataset', 'build', 'never-written.tar.zst', '--mtime', 'abc', '--json'], { env: { SOURCE_DATE_EPOCH: '5' } });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(/^--mtime must be/);
  });
});
