import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parse } from 'pg-connection-string';
import { describe, expect, inject, it } from 'vitest';
import { createThrowawayDatabase } from '../../../src/testing/index.js';
import { databaseExists } from '../../support/pg.js';

describe('createThrowawayDatabase', () => {
  // A client that never leaves is terminated once the grace period is over: drop() completes.
  it('creates a reachable database and drops it, even with a client still connected', { timeout: 30_000 }, async () => {
    const db = (await createThrowawayDatabase({ serverUrl: inject('pgUrl'), template: inject('pgTemplate') }))._unsafeUnwrap();
    const client = new pg.Client({ connectionString: db.url });
    const errors: string[] = [];
    client.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message)); // DROP … WITH (FORCE) terminates it
    await client.connect();
    try {
      expect((await client.query('SELECT current_database() AS d')).rows[0].d).toBe(db.name);
      expect(await databaseExists(db.name)).toBe(true);
      await db.drop();
      expect(await databaseExists(db.name)).toBe(false);
      await expect(client.query('SELECT 1')).rejects.toThrow();
      expect(errors).toContain('57P01');
      await db.drop(); // already gone: nothing to do
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  it('lets a client whose end is on its way leave before dropping, so it is sent no error', async () => {
    const db = (await createThrowawayDatabase({ serverUrl: inject('pgUrl'), template: inject('pgTemplate') }))._unsafeUnwrap();
    const client = new pg.Client({ connectionString: db.url });
    const errors: string[] = [];
    client.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? e.message));
    await client.connect();
    // The client closes on a timer, as one ended without awaiting it does a moment later.
    const ended = sleep(150).then(() => client.end().catch(() => undefined));
    await db.drop();
    await ended;
    expect(errors).toEqual([]);
    expect(await databaseExists(db.name)).toBe(false);
  });

  it('refuses a hostile template name without running it', async () => {
    const r = await createThrowawayDatabase({ serverUrl: inject('pgUrl'), template: 'x"; DROP DATABASE postgres; --' });
    expect(r.isErr() && r.error.code).toBe('INVALID_IDENTIFIER');
  });

  it('reports an unreachable server as DB_CONNECTION', async () => {
    const r = await createThrowawayDatabase({ serverUrl: 'postgres://nobody@127.0.0.1:1/x' });
    expect(r.isErr() && r.error.code).toBe('DB_CONNECTION');
  });

  /** The server's address, user and password in the forms pg reads besides host:port URLs. */
  async function otherForms(): Promise<[string, string][]> {
    const c = parse(inject('pgUrl'));
    const auth = `${encodeURIComponent(c.user ?? 'postgres')}${c.password ? `:${encodeURIComponent(c.password)}` : ''}`;
    const forms: [string, string][] = [
      ['host in the query, none before the path', `postgres://${auth}@/postgres?host=${c.host}&port=${c.port ?? 5432}`],
    ];
    const admin = new pg.Client({ connectionString: inject('pgUrl') });
    await admin.connect();
    const dir = String((await admin.query('SHOW unix_socket_directories')).rows[0].unix_socket_directories)
      .split(',')[0]
      ?.trim();
    await admin.end();
    if (dir) {
      const query = `db=postgres&user=${encodeURIComponent(c.user ?? 'postgres')}${c.password ? `&password=${encodeURIComponent(c.password)}` : ''}`;
      forms.push(['socket: URL', `socket:${dir}?${query}`]);
    }
    return forms;
  }

  // A prefix is any plain identifier: "$" and capitals too, which the URL must carry as they are.
  it.for(['bk_dollar$', 'BK_Upper_Dollar$_'])('creates, reaches and drops a database whose prefix is %s', async (prefix) => {
    const created = await createThrowawayDatabase({ serverUrl: inject('pgUrl'), prefix });
    expect(created.isOk() || created.error.message).toBe(true);
    const db = created._unsafeUnwrap();
    expect(db.name.startsWith(prefix)).toBe(true);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      expect((await client.query('SELECT current_database() AS d')).rows[0].d).toBe(db.name);
    } finally {
      await client.end();
    }
    await db.drop();
    expect(await databaseExists(db.name)).toBe(false);
  });

  it('gives a URL of the new database, creating nothing it cannot name, for every URL form pg reads', async (ctx) => {
    try {
      await eachForm(ctx);
    } finally {
      // A database created but not named in a URL was left behind: drop it, and fail.
      const admin = new pg.Client({ connectionString: inject('pgUrl') });
      await admin.connect();
      const left = (await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'bk_forms_%'")).rows.map((r) => r.datname);
      for (const name of left) await admin.query(`DROP DATABASE "${name}" WITH (FORCE)`);
      await admin.end();
      expect(left).toEqual([]);
    }
  });

  async function eachForm(ctx: { skip: (note: string) => never }): Promise<void> {
    for (const [label, serverUrl] of await otherForms()) {
      // A form this server refuses (no socket for this user) is not the library's to test.
      const probe = new pg.Client({ connectionString: serverUrl });
      const reachable = await probe.connect().then(
        () => probe.end().then(() => true),
        () => false,
      );
      if (!reachable) {
        if (label === 'socket: URL') continue;
        ctx.skip(`skipped: the server cannot be reached as ${label}`);
      }
      const db = (await createThrowawayDatabase({ serverUrl, prefix: 'bk_forms_' }))._unsafeUnwrap();
      try {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          expect((await client.query('SELECT current_database() AS d')).rows[0].d, label).toBe(db.name);
        } finally {
          await client.end();
        }
      } finally {
        await db.drop();
      }
      expect(await databaseExists(db.name)).toBe(false);
    }
  }

  it('refuses a server URL it cannot give another database name, before creating one', async () => {
    const admin = new pg.Client({ connectionString: inject('pgUrl') });
    await admin.connect();
    const count = async (): Promise<number> =>
      Number((await admin.query("SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'bk_refused_%'")).rows[0].n);
    try {
      const before = await count();
      const r = await createThrowawayDatabase({ serverUrl: 'not a url at all', prefix: 'bk_refused_' });
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toMatch(/serverUrl/);
      expect(await count()).toBe(before);
    } finally {
      await admin.end();
    }
  });
});

describe('createThrowawayDatabase with a serverUrl naming the template', () => {
  it('clones it from parallel workers at once: its own connection does not hold the template', async () => {
    const template = `bk_tplurl_${process.pid}`;
    const admin = new pg.Client({ connectionString: inject('pgUrl') });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${template}`);
    await admin.query(`CREATE DATABASE ${template}`);
    const u = new URL(inject('pgUrl'));
    u.pathname = `/${template}`;
    try {
      const made = await Promise.all(Array.from({ length: 4 }, () => createThrowawayDatabase({ serverUrl: u.toString(), template })));
      for (const r of made) if (r.isOk()) await r.value.drop();
      expect(made.map((r) => (r.isOk() ? 'ok' : r.error.message))).toEqual(['ok', 'ok', 'ok', 'ok']);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
      await admin.end();
    }
  });
});

describe('createThrowawayDatabase as a role that may not create databases', () => {
  it('says the role needs CREATEDB, naming no password', async () => {
    const role = `bk_nocreatedb_${process.pid}`;
    const password = 'p@ss w%rd';
    const admin = new pg.Client({ connectionString: inject('pgUrl') });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query(`CREATE ROLE ${role} LOGIN NOCREATEDB PASSWORD '${password}'`);
    const u = new URL(inject('pgUrl'));
    u.username = role;
    u.password = encodeURIComponent(password);
    try {
      const r = await createThrowawayDatabase({ serverUrl: u.toString() });
      // A server that refuses this login (pg_hba) says so instead: not the library's to test.
      if (r.isErr() && r.error.code === 'DB_CONNECTION') return;
      expect(r.isErr() && r.error.code).toBe('DB_ERROR');
      expect(r.isErr() && r.error.dbCode).toBe('42501');
      expect(r.isErr() && r.error.message).toMatch(new RegExp(`role "${role}" .*CREATEDB`));
      expect(r.isErr() && r.error.message).not.toContain('p@ss');
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
