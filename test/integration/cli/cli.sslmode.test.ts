import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOsUser } from '../../support/os-user-role.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
let sslOn = false;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.query(
    'CREATE SCHEMA scanner; CREATE TABLE scanner.artifact_boms (k text, inserted_at timestamptz not null) PARTITION BY RANGE (inserted_at)',
  );
  sslOn = (await db.query<{ ssl: string }>('SHOW ssl'))[0]?.ssl === 'on';
});
afterAll(async () => {
  await db.drop();
});

function libpqEnv(mode: string): Record<string, string> {
  const u = new URL(db.url);
  return {
    PGHOST: u.hostname,
    PGPORT: u.port || '5432',
    PGDATABASE: u.pathname.slice(1),
    PGUSER: decodeURIComponent(u.username) || 'postgres',
    ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}),
    PGSSLMODE: mode,
  };
}

const withMode = (url: string, mode: string): string => {
  const u = new URL(url);
  u.searchParams.set('sslmode', mode);
  return u.toString();
};

describe('sslmode and PGSSLMODE as libpq reads them', () => {
  for (const mode of ['prefer', 'allow', 'disable'])
    it(`PGSSLMODE=${mode} connects to a server without SSL, as psql does`, async (ctx) => {
      if (sslOn) ctx.skip('skipped: this server has ssl on; these cases need a server without SSL');
      const r = await cli(['partitions', 'list'], { env: libpqEnv(mode) });
      expect(r.code, r.stderr).toBe(0);
      const url = await cli(['partitions', 'list', '--pg', withMode(db.url, mode)]);
      expect(url.code, url.stderr).toBe(0);
      expect(url.stderr).not.toContain('SECURITY WARNING');
    });

  it('PGSSLMODE=require still refuses a server without SSL; sslmode in the URL wins over PGSSLMODE', async (ctx) => {
    if (sslOn) ctx.skip('skipped: this server has ssl on; these cases need a server without SSL');
    const r = await cli(['partitions', 'list', '--json'], { env: libpqEnv('require') });
    expect(r.code).toBe(6);
    expect(r.stdout).toMatch(/SSL/);
    const url = await cli(['partitions', 'list', '--pg', withMode(db.url, 'disable')], { env: { PGSSLMODE: 'require' } });
    expect(url.code, url.stderr).toBe(0);
  });

  it('an sslmode libpq does not know is a usage error naming where it came from', async () => {
    const r = await cli(['partitions', 'list', '--json'], { env: libpqEnv('prefered') });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('PGSSLMODE');
    expect(r.stdout).toContain('prefer');
    const url = await cli(['partitions', 'list', '--pg', withMode(db.url, 'requir')]);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('sslmode');
  });
});

describe('the default user, as libpq picks it', () => {
  it('with no user in the URL and no PGUSER, connects as the OS user even when USER is unset (cron, systemd)', async () => {
    await asOsUser(db, async (env) => {
      const u = new URL(db.url);
      u.username = '';
      u.password = '';
      const r = await cli(['partitions', 'list', '--pg', u.toString(), '--json'], { env });
      expect(r.code, r.stdout + r.stderr).toBe(0);
    });
  });
});

describe('an SSL file the URL names that cannot be read', () => {
  it.for(['sslrootcert', 'sslcert', 'sslkey'])(
    '%s: IO_ERROR (exit 8) naming the parameter and the file, not a URL that "does not parse"',
    async (param) => {
      const url = new URL(withMode(db.url, 'verify-full'));
      url.searchParams.set(param, '/nonexistent/bk-ssl-file.pem');
      const r = await cli(['partitions', 'list', '--pg', url.toString()]);
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toMatch(new RegExp(`^error IO_ERROR: --pg: ${param} /nonexistent/bk-ssl-file\\.pem cannot be read \\(ENOENT`, 'm'));
    },
  );
});

describe('PGPORT as libpq reads it', () => {
  it.for(['abc', '99999', '0', '5432abc', '54.32'])(
    'PGPORT=%s is a usage error naming PGPORT (exit 2), not a connection failure or another port',
    async (port) => {
      const r = await cli(['partitions', 'list'], { env: { ...libpqEnv('disable'), PGPORT: port } });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(`^error INVALID_ARGUMENT: PGPORT must be a TCP port \\(1 to 65535\\), not "${port.replace('.', '\\.')}"`, 'm'),
      );
    },
  );

  it('a URL without a port uses PGPORT, as libpq does; one with a port ignores it', async () => {
    const u = new URL(withMode(db.url, 'disable'));
    const port = u.port || '5432';
    u.port = '';
    const fromEnv = await cli(['partitions', 'list', '--pg', u.toString()], { env: { PGPORT: port } });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const refused = await cli(['partitions', 'list', '--pg', u.toString()], { env: { PGPORT: 'abc' } });
    expect(refused.code, refused.stderr).toBe(2);
    const ignored = await cli(['partitions', 'list', '--pg', withMode(db.url, 'disable')], { env: { PGPORT: 'abc' } });
    expect(ignored.code, ignored.stderr).toBe(0);
  });
});
