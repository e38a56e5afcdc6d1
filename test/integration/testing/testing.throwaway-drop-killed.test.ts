/**
 * drop() whose own session the server ends while it waits between looks
 * for the database's other sessions to leave (an operator's
 * pg_terminate_backend, a server shutting down or failing over, an
 * idle_session_timeout): pg emits 'error' on an idle client whose
 * connection ends unasked, and drop()'s client had no listener for it, so
 * the process running the drop died with an uncaught exception instead of
 * drop() rejecting. Here the server ends it: drop()'s sessions go to a
 * database of the test's own whose idle_session_timeout, set once the
 * throwaway database is created, is shorter than drop()'s pause between looks.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createThrowawayDatabase } from '../../../src/testing/index.js';
import { databaseExists, onServer } from '../../support/pg.js';
import { collectUnobserved } from '../../support/unobserved.js';

const unobserved = collectUnobserved();

describe('ThrowawayDatabase.drop() whose own session the server ends while it waits', () => {
  it('rejects, with no uncaught error, and leaves the database', async () => {
    const server = `bk_drop_server_${randomBytes(4).toString('hex')}`;
    await onServer(`CREATE DATABASE ${server}`);
    const serverUrl = new URL(inject('pgUrl'));
    serverUrl.pathname = `/${server}`;
    let name: string | undefined;
    try {
      const db = (await createThrowawayDatabase({ serverUrl: serverUrl.toString(), template: inject('pgTemplate') }))._unsafeUnwrap();
      name = db.name;
      // Sessions that drop() opens from now on, and only those: idle 15 ms, the server ends them (drop() pauses 25 ms).
      await onServer(`ALTER DATABASE ${server} SET idle_session_timeout = 15`);
      // A session that stays connected to the database: drop() waits for it to leave.
      const holder = new pg.Client({ connectionString: db.url });
      holder.on('error', () => undefined);
      await holder.connect();
      try {
        const outcome = await db.drop().then(
          () => 'dropped',
          (e: unknown) => e,
        );
        // The server's reason, not the driver's "not queryable".
        expect(outcome).toMatchObject({ code: '57P05' });
        expect(unobserved).toEqual({ rejections: [], exceptions: [] });
        expect(await databaseExists(db.name)).toBe(true);
      } finally {
        await holder.end().catch(() => undefined);
      }
    } finally {
      if (name !== undefined) await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await onServer(`DROP DATABASE IF EXISTS ${server} WITH (FORCE)`);
    }
  });
});
