/**
 * Every module takes a `logger`; a sink that has failed (a closed or full
 * destination throws on write) must not stop or fail the work it is told
 * about. Before, an import that had committed reported itself failed, a
 * passed verification came back as an error, and an index backfill that
 * warned about one line appended nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { verifyChecksums } from '../../../src/verify/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { throwingLogger } from '../../support/throwing-logger.js';

const dir = mkdtempSync(join(tmpdir(), 'bk-throwing-logger-'));
const logged: string[] = [];
const throwing = throwingLogger(logged);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('a logger that throws', () => {
  it('a staging import commits and reports success', async () => {
    const path = join(dir, 'ds.tar.zst');
    (await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a1' }, { _id: 'a2' }], 'b.ndjson': [{ _id: 'b1' }] } }))._unsafeUnwrap();
    const importer = new StagingImporter({
      pg: db.pool,
      schema: 'thrown',
      tables: { 'a.ndjson': 'a_raw', 'b.ndjson': 'b_raw' },
      logger: throwing,
    });
    const before = logged.length;
    const report = (await importer.import(path, { strategy: 'swap' }))._unsafeUnwrap();
    expect(logged.length).toBeGreaterThan(before);
    expect(report.rows).toBe(3);
    const [row] = await db.query<{ n: number }>('SELECT (SELECT count(*) FROM thrown.a_raw) + (SELECT count(*) FROM thrown.b_raw) AS n');
    expect(Number(row!.n)).toBe(3);
  });

  it('verifyChecksums that passes says so', async () => {
    const file = join(dir, 'data.bin');
    writeFileSync(file, 'payload\n');
    const sums = join(dir, 'SHA256SUMS');
    writeFileSync(sums, `${createHash('sha256').update(readFileSync(file)).digest('hex')}  data.bin\n`);
    const before = logged.length;
    const report = (await verifyChecksums(sums, { logger: throwing }))._unsafeUnwrap();
    expect(logged.length).toBeGreaterThan(before);
    expect(report.ok).toBe(true);
  });

  it('an index backfill that warns about a line still appends its rows and releases its lock', async () => {
    const root = join(dir, 'episodes');
    for (const id of ['ep-0', 'ep-1']) {
      (
        await buildEpisodeTarball({
          meta: { code_version: { commit: 'c0ffee00112233445566778899aabbccddeeff00' } },
          files: { 'f.bin': Buffer.from(id) },
          path: join(root, 'host', `${id}.tar.zst`),
        })
      )._unsafeUnwrap();
    }
    const index = join(dir, 'index.jsonl');
    writeFileSync(index, '{broken\n');
    const before = logged.length;
    const report = (await backfillIndex({ episodesRoot: root, index, logger: throwing }))._unsafeUnwrap();
    expect(logged.length).toBeGreaterThan(before);
    expect(report.rows.map((r) => r.episode_id)).toEqual(['ep-0', 'ep-1']);
    expect(readFileSync(index, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
    expect(existsSync(`${index}.backfill.lock`)).toBe(false);
  });
});
