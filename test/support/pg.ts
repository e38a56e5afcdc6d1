import { inject } from 'vitest';
import pg from 'pg';
import { createThrowawayDatabase } from '../../src/testing/throwaway-database.js';

/** A database of its own for one test file, cloned from the template. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly pool: pg.Pool;
  /** Runs SQL and returns the rows. */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/** Creates a fresh database (`CREATE DATABASE … TEMPLATE …`) for this test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const db = (await createThrowawayDatabase({ serverUrl: inject('pgUrl'), template: inject('pgTemplate') }))._unsafeUnwrap();
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  // pool.end() resolves before its sockets close, so DROP … WITH (FORCE) can
  // still terminate an idle connection (57P01). That is the teardown itself;
  // any other idle-connection error fails the run.
  let dropping = false;
  pool.on('error', (error) => {
    if (!dropping) throw error;
  });
  return {
    url: db.url,
    name: db.name,
    pool,
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async drop() {
      dropping = true;
      await pool.end();
      await db.drop();
    },
  };
}
