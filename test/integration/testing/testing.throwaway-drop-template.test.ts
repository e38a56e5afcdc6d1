/**
 * A serverUrl naming the template: createThrowawayDatabase creates the clone
 * through the server's `postgres` database (a session on the template would
 * keep other workers from cloning it), but drop() went back through the
 * template's own URL. Its session then sat on the template for up to its
 * 2-second grace period, where the clones of parallel workers wait for it
 * (and fail once such sessions hold it for 5 seconds); and a template that
 * takes no connections (`ALLOW_CONNECTIONS false`, as `template0`) gave a
 * database that was created but could not be dropped. drop() now goes
 * through the URL the database was created through.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { createThrowawayDatabase } from '../../../src/testing/index.js';
import { databaseExists, onServer } from '../../support/pg.js';

describe('ThrowawayDatabase.drop() with a serverUrl naming the template', () => {
  it('drops through the URL the database was created through, not the template', async () => {
    const template = `bk_tpl_noconn_${randomBytes(4).toString('hex')}`;
    await onServer(`CREATE DATABASE ${template}`);
    const serverUrl = new URL(inject('pgUrl'));
    serverUrl.pathname = `/${template}`;
    let name: string | undefined;
    try {
      await onServer(`ALTER DATABASE ${template} ALLOW_CONNECTIONS false`);
      const db = (await createThrowawayDatabase({ serverUrl: serverUrl.toString(), template }))._unsafeUnwrap();
      name = db.name;
      expect(await databaseExists(db.name)).toBe(true);
      const outcome = await db.drop().then(
        () => 'dropped',
        (e: unknown) => (e as Error).message,
      );
      expect(outcome).toBe('dropped');
      expect(await databaseExists(db.name)).toBe(false);
    } finally {
      if (name !== undefined) await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await onServer(`ALTER DATABASE ${template} ALLOW_CONNECTIONS true`);
      await onServer(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    }
  });
});
