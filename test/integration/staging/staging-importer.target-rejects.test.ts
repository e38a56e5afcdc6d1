import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackfillError } from '../../../src/errors.js';
import {
  PgStagingTarget,
  StagingImporter,
  type StagingRow,
  type StagingRowReject,
  type StagingSession,
  type StagingTarget,
} from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { handTarball, scratch } from './fixtures.js';

/**
 * A real PostgreSQL target that, like the MongoDB target with a document over
 * the BSON limit, cannot store some rows and hands them to `reject`.
 */
function refusing(inner: StagingTarget, refuse: (row: StagingRow) => boolean): StagingTarget {
  return {
    counts: () => inner.counts(),
    truncate: () => inner.truncate(),
    close: () => inner.close(),
    begin: (options) =>
      inner.begin(options).map(
        (session): StagingSession => ({
          ...session,
          count: (t) => session.count(t),
          commit: () => session.commit(),
          abort: () => session.abort(),
          load(table, batches, reject?: StagingRowReject) {
            async function* storable(): AsyncGenerator<StagingRow[]> {
              for await (const batch of batches) {
                const keep: StagingRow[] = [];
                for (const row of batch) {
                  if (!refuse(row)) keep.push(row);
                  else if (reject)
                    await reject(
                      row,
                      new BackfillError('DOCUMENT_TOO_LARGE', `${row.id} is too large for this store`, { context: { id: row.id } }),
                    );
                  else throw new BackfillError('DOCUMENT_TOO_LARGE', `${row.id} is too large`);
                }
                yield keep;
              }
            }
            return session.load(table, storable());
          },
        }),
      ),
  };
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('StagingImporter with a target that rejects rows itself', () => {
  it('writes the target’s rejects to the reject file with their lines, and the manifest check accounts for them', async () => {
    const dir = scratch();
    const text = `${['{"_id":"a"}', '{"_id":"big","blob":"x"}', '{"_id":"c"}'].join('\n')}\n`;
    const file = handTarball(dir, 'd.tar.zst', [{ name: 'linksets.ndjson', text }]);
    const inner = PgStagingTarget.create({ pg: db.pool, schema: 'lnm_raw', tables: ['linksets_raw'] })._unsafeUnwrap();
    const importer = new StagingImporter({
      target: refusing(inner, (row) => row.id === 'big'),
      tables: { 'linksets.ndjson': 'linksets_raw' },
    });
    const rejectPath = join(dir, 'rejects.ndjson');
    const report = (await importer.import(file, { onInvalid: 'reject', rejectPath }))._unsafeUnwrap();
    expect(report.rejected).toBe(1);
    const rejected = readFileSync(rejectPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rejected).toEqual([expect.objectContaining({ member: 'linksets.ndjson', line: 2, code: 'DOCUMENT_TOO_LARGE' })]);
    expect((await db.query('SELECT id FROM lnm_raw.linksets_raw ORDER BY id')).map((r) => r.id)).toEqual(['a', 'c']);
  });

  it('fails the import, leaving the table as it was, when rejects are not allowed', async () => {
    const dir = scratch();
    const file = handTarball(dir, 'e.tar.zst', [{ name: 'linksets.ndjson', text: '{"_id":"big"}\n{"_id":"z"}\n' }]);
    const inner = PgStagingTarget.create({ pg: db.pool, schema: 'lnm_raw', tables: ['linksets_raw'] })._unsafeUnwrap();
    const importer = new StagingImporter({
      target: refusing(inner, (row) => row.id === 'big'),
      tables: { 'linksets.ndjson': 'linksets_raw' },
    });
    const r = await importer.import(file);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_TOO_LARGE');
    expect((await db.query('SELECT id FROM lnm_raw.linksets_raw ORDER BY id')).map((x) => x.id)).toEqual(['a', 'c']);
  });
});
