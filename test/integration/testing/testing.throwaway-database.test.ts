import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createThrowawayDatabase } from '../../../src/testing/index.js';

async function exists(name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: inject('pgUrl') });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

describe('createThrowawayDatabase', () => {
  it('creates a reachable database and drops it, even with a client still connected', async () => {
    const db = (await createThrowawayDatabase({ serverUrl: inject('pgUrl'), template: inject('pgTemplate') }))._unsafeUnwrap();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    client.on('error', () => undefined); // DROP … WITH (FORCE) terminates it
    expect((await client.query('SELECT current_database() AS d')).rows[0].d).toBe(db.name);
    expect(await exists(db.name)).toBe(true);
    await db.drop();
    expect(await exists(db.name)).toBe(false);
    await client.end().catch(() => undefined);
  });

  it('refuses a hostile template name without running it', async () => {
    const r = await createThrowawayDatabase({ serverUrl: inject('pgUrl'), template: 'x"; DROP DATABASE postgres; --' });
    expect(r.isErr() && r.error.code).toBe('INVALID_IDENTIFIER');
  });

  it('reports an unreachable server as DB_CONNECTION', async () => {
    const r = await createThrowawayDatabase({ serverUrl: 'postgres://nobody@127.0.0.1:1/x' });
    expect(r.isErr() && r.error.code).toBe('DB_CONNECTION');
  });
});
