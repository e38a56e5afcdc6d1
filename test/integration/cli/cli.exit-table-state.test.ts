/**
 * The exit status of a run the database's own tables stop (a foreign key on
 * the rows it would move, a table of another shape): it said 5, "the input
 * is unusable: corrupt or truncated archive, malformed JSON …", when no input
 * was at fault (a `partitions ensure` reads none), and the fix it printed
 * told a partitions run to "import again".
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../../src/cli/exit-codes.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
const dir = tempDir('bk-cli-table-state-');

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('a run its tables stop exits as the database stopping it', () => {
  it('partitions ensure held back by a foreign key on rows of the default partition exits 6, with a fix for this command', async () => {
    await db.query(`CREATE SCHEMA fk_state;
      CREATE TABLE fk_state.boms (id int, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE fk_state.boms_default PARTITION OF fk_state.boms DEFAULT;
      INSERT INTO fk_state.boms VALUES (1, '2026-11-05 00:00:00+00');
      CREATE TABLE fk_state.findings (id int, at timestamptz, FOREIGN KEY (id, at) REFERENCES fk_state.boms (id, at));
      INSERT INTO fk_state.findings VALUES (1, '2026-11-05 00:00:00+00');`);
    const args = ['partitions', 'ensure', '0', '--table', 'fk_state.boms', '--column', 'at', '--now', '2026-11-23T10:00:00Z'];
    const r = await cli(args, { env: { PGURI: db.url } });
    expect(r.stderr).toMatch(/^error TABLE_REFERENCED: /m);
    expect(r.code, r.stderr).toBe(EXIT_CODES.DATABASE.code);
    expect(r.stderr).not.toMatch(/import/);
  });

  it('dataset import into an existing table of another shape exits 6', async () => {
    const tarball = join(dir, 'small.tar.zst');
    expect((await cli(['dataset', 'build', tarball, '--linksets', '2', '--chunks', '2', '--quiet'])).code).toBe(0);
    await db.query('CREATE SCHEMA shape_state; CREATE TABLE shape_state.linksets_raw (id int PRIMARY KEY, raw jsonb)');
    const r = await cli(['dataset', 'import', tarball, '--schema', 'shape_state', '--quiet'], { env: { PGURI: db.url } });
    expect(r.stderr).toMatch(/^error TABLE_SHAPE_MISMATCH: /m);
    expect(r.code, r.stderr).toBe(EXIT_CODES.DATABASE.code);
  });
});
