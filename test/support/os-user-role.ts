/**
 * A login role named after the OS user, for tests of a connection that
 * names no user (libpq then logs in as the OS user). Roles belong to the
 * whole server, and test files run at once: two that each create and drop
 * the role would race (one finds it made by the other, then logs in
 * without the other's password, or loses it mid-test). So the role is
 * taken under a server-wide advisory lock, held on a connection to the
 * `postgres` database until the test is done.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';
import type { TestDatabase } from './pg.js';

/** Runs `test` while a login role named after the OS user exists, with the environment that logs in as it (its password, where this made it). */
export async function asOsUser<T>(db: TestDatabase, test: (env: Record<string, string>) => Promise<T>): Promise<T> {
  const me = JSON.stringify(userInfo().username);
  const server = new URL(db.url);
  server.pathname = '/postgres';
  const lock = new pg.Client({ connectionString: server.toString() });
  await lock.connect();
  try {
    await lock.query("SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtext('backfill-kit tests: the OS user role'))");
    const existed = (await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [userInfo().username])).length > 0;
    // With a password, so that it also logs in on a server that asks for one (PGPASSWORD names no user).
    const password = randomBytes(12).toString('hex');
    if (!existed) await db.query(`CREATE ROLE ${me} LOGIN SUPERUSER PASSWORD '${password}'`);
    try {
      return await test(existed ? {} : { PGPASSWORD: password });
    } finally {
      if (!existed) {
        // What the test's commands created goes to the test database's owner first.
        await db.query(`REASSIGN OWNED BY ${me} TO CURRENT_USER`);
        await db.query(`DROP ROLE ${me}`);
      }
    }
  } finally {
    // Ending the session releases the lock.
    await lock.end();
  }
}
