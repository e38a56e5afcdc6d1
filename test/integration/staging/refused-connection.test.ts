import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StagingImporter } from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { scratch, smallDataset, TABLES } from './fixtures.js';

let db: TestDatabase;
let tarball: string;

beforeAll(async () => {
  db = await createTestDatabase();
  tarball = await smallDataset(scratch(), 'refused.tar.zst', 3, 5, 5);
});
afterAll(async () => {
  await db.drop();
});

/** The test database's URL with `change` applied. */
function changed(change: (u: URL) => void): string {
  const u = new URL(db.url);
  change(u);
  return u.toString();
}

describe('an import the server refuses to connect for good says to fix the URL, not to wait for the server', () => {
  it.for([
    ['no such role', () => changed((u) => (u.username = 'bk_no_such_role'))],
    ['no such database', () => changed((u) => (u.pathname = '/bk_no_such_database'))],
  ] as const)('%s', async ([, url]) => {
    const importer = new StagingImporter({ pg: url(), tables: TABLES });
    try {
      const result = await importer.import(tarball);
      const error = result._unsafeUnwrapErr();
      expect(error.code).toBe('DB_CONNECTION');
      expect(error.message).not.toMatch(/connection was lost|once the server accepts connections/);
      expect(error.message).toMatch(/refused the connection for good.*fix the database, user or password of the connection URL/);
    } finally {
      await importer.close();
    }
  });

  it('a server that is down is still told as a passing loss to retry', async () => {
    const importer = new StagingImporter({ pg: changed((u) => (u.port = '1')), tables: TABLES });
    try {
      const error = (await importer.import(tarball))._unsafeUnwrapErr();
      expect(error.code).toBe('DB_CONNECTION');
      expect(error.message).toMatch(/import again once the server accepts connections/);
    } finally {
      await importer.close();
    }
  });
});
