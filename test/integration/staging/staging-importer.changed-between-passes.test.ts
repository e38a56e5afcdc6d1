/**
 * An import that meets a duplicate id with `onInvalid: 'reject'` reads the
 * archive again, rejecting the repeated line by its number. If the file is
 * replaced between those passes, the line numbers belong to another file:
 * the import must fail, not reject whichever record now sits on that line.
 */
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StagingImporter } from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { needTools } from '../../support/tmp.js';
import { handTarball, ndjson, scratch, TABLES } from './fixtures.js';

const tools = needTools('tar', 'zstd');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe.skipIf(tools.missing)(tools.title('a dataset replaced between the passes of a duplicate-rejecting import'), () => {
  it('fails with CHECKSUM_MISMATCH and commits nothing, instead of rejecting a record that is not a duplicate', async () => {
    const dir = scratch();
    const chunks = { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'x' }]) };
    // First file: line 3 repeats line 1's id. Second file: line 3 is a record of its own.
    const withDuplicate = handTarball(dir, 'first.tar.zst', [
      { name: 'linksets.ndjson', text: ndjson([{ _id: 'a' }, { _id: 'b' }, { _id: 'a' }]) },
      chunks,
    ]);
    const replacement = handTarball(dir, 'second.tar.zst', [
      { name: 'linksets.ndjson', text: ndjson([{ _id: 'a' }, { _id: 'b' }, { _id: 'c' }]) },
      chunks,
    ]);
    const path = join(dir, 'live.tar.zst');
    renameSync(withDuplicate, path);
    const rejectPath = join(dir, 'rejects.ndjson');
    let swapped = false;
    const importer = new StagingImporter({
      pg: db.pool,
      schema: 'changed',
      tables: TABLES,
      logger: {
        info: () => {},
        error: () => {},
        // Called once the duplicate's lines are known, just before the next pass opens the path.
        warn: (message) => {
          if (message.startsWith('duplicate id rejected') && !swapped) {
            renameSync(replacement, path);
            swapped = true;
          }
        },
      },
    });

    const result = await importer.import(path, { onInvalid: 'reject', rejectPath });

    expect(swapped).toBe(true);
    expect(result.isErr()).toBe(true);
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('CHECKSUM_MISMATCH');
    expect(error.message).toContain('linksets.ndjson line 3 no longer holds id "a"');
    expect(error.message).toContain('Nothing was committed');
    const tables = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_catalog.pg_tables WHERE schemaname = 'changed' AND tablename = 'linksets_raw'",
    );
    const rows =
      Number(tables[0]?.n) === 0 ? 0 : Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM changed.linksets_raw'))[0]?.n);
    expect(rows).toBe(0);
    // Record c was never written off as a duplicate.
    const rejects = (() => {
      try {
        return readFileSync(rejectPath, 'utf8');
      } catch {
        return '';
      }
    })();
    expect(rejects).not.toContain('"c"');
  });
});
