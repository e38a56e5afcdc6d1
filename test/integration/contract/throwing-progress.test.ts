/**
 * Every long call takes an `onProgress`; a callback that throws (a progress
 * bar whose terminal went away, a metrics push that failed) must change
 * nothing, as a throwing logger changes nothing. Before, a staging import
 * whose callback threw at its `done` report had committed and still
 * returned an error, and a throw at any earlier report failed the import,
 * the verification, the export, the index backfill or the statement
 * backfill it was only told about.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { exportDataset, type ImportProgress, StagingImporter } from '../../../src/staging/index.js';
import { verifyChecksums, verifyDataset, writeChecksums } from '../../../src/verify/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { rejectingProgress, throwingProgress, warningsLogger } from '../../support/throwing-progress.js';
import { collectUnobserved } from '../../support/unobserved.js';
import { smallTree } from '../index-backfill/episode-tree.js';
import { backfillSingleProcess, expectedCounters, seedDocuments } from '../statements/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bk-throwing-progress-'));
const unobserved = collectUnobserved();

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A few turns of the event loop, for a rejection nobody handles to be reported. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await turn();
  await new Promise((resolve) => setTimeout(resolve, 20));
}

/** The warnings about the callback: exactly one, naming it. */
function expectOneProgressWarning(warnings: readonly string[]): void {
  expect(warnings.filter((w) => w.includes('onProgress'))).toHaveLength(1);
}

async function dataset(name: string, prefix: string): Promise<string> {
  const path = join(dir, name);
  (
    await writeDataset(path, {
      members: { 'a.ndjson': [{ _id: `${prefix}1` }, { _id: `${prefix}2` }], 'b.ndjson': [{ _id: `${prefix}3` }] },
    })
  )._unsafeUnwrap();
  return path;
}

async function ids(schema: string): Promise<string[]> {
  const rows = await db.query<{ id: string }>(`SELECT id FROM ${schema}.a_raw UNION ALL SELECT id FROM ${schema}.b_raw ORDER BY 1`);
  return rows.map((r) => r.id);
}

describe('an onProgress that throws', () => {
  it.for([
    ['swap', 'every report'],
    ['truncate', 'every report'],
    ['swap', 'the done report only'],
    ['truncate', 'the done report only'],
  ] as const)(
    'a %s import committed with it throwing at %s returns ok, and the tables hold the new rows',
    async ([strategy, when], { task }) => {
      const schema = `p_${task.id.replace(/\W/g, '').slice(-12).toLowerCase()}`;
      const warnings: string[] = [];
      const importer = new StagingImporter({
        pg: db.pool,
        schema,
        tables: { 'a.ndjson': 'a_raw', 'b.ndjson': 'b_raw' },
        logger: warningsLogger(warnings),
      });
      (await importer.import(await dataset(`${schema}-old.tar.zst`, 'old'), { strategy }))._unsafeUnwrap();
      const seen: ImportProgress[] = [];
      const fail = throwingProgress(seen);
      const onProgress =
        when === 'every report'
          ? fail
          : (p: ImportProgress) => {
              if (p.phase === 'done') fail(p);
            };
      const report = (await importer.import(await dataset(`${schema}-new.tar.zst`, 'new'), { strategy, onProgress }))._unsafeUnwrap();
      expect(report.committed).toBe(true);
      expect(report.rows).toBe(3);
      expect(await ids(schema)).toEqual(['new1', 'new2', 'new3']);
      expect(seen.at(-1)?.phase).toBe('done');
      if (when === 'every report') expect(seen.map((p) => p.phase)).toEqual(expect.arrayContaining(['load', 'verify', 'commit', 'done']));
      expectOneProgressWarning(warnings);
    },
  );

  it('an async onProgress that rejects changes nothing either, and no rejection goes unhandled', async () => {
    const importer = new StagingImporter({ pg: db.pool, schema: 'rejecting', tables: { 'a.ndjson': 'a_raw', 'b.ndjson': 'b_raw' } });
    const seen: ImportProgress[] = [];
    const report = await importer.import(await dataset('rejecting.tar.zst', 'r'), {
      strategy: 'swap',
      onProgress: rejectingProgress(seen),
    });
    expect(report._unsafeUnwrap().committed).toBe(true);
    expect(seen.length).toBeGreaterThan(3);
    expect(await ids('rejecting')).toEqual(['r1', 'r2', 'r3']);
    await settle();
    expect(unobserved.rejections).toEqual([]);
  });

  it('exportDataset writes the same tarball as without it', async () => {
    const config = { pg: db.pool, schema: 'rejecting', tables: { 'a.ndjson': 'a_raw', 'b.ndjson': 'b_raw' } };
    // Same file name in two directories: the name is part of what is written.
    for (const sub of ['plain', 'thrown']) mkdirSync(join(dir, sub));
    const plain = (await exportDataset(config, join(dir, 'plain', 'export.tar.zst')))._unsafeUnwrap();
    const warnings: string[] = [];
    const thrown = (
      await exportDataset(config, join(dir, 'thrown', 'export.tar.zst'), {
        progressEveryRows: 1,
        onProgress: throwingProgress(),
        logger: warningsLogger(warnings),
      })
    )._unsafeUnwrap();
    expect(thrown.sha256).toBe(plain.sha256);
    expect(thrown.tables).toEqual(plain.tables);
    expectOneProgressWarning(warnings);
  });

  it('verifyDataset gives the same report as without it', async () => {
    const path = await dataset('verify.tar.zst', 'v');
    const plain = (await verifyDataset(path))._unsafeUnwrap();
    const warnings: string[] = [];
    const seen: unknown[] = [];
    const thrown = (await verifyDataset(path, { onProgress: throwingProgress(seen), logger: warningsLogger(warnings) }))._unsafeUnwrap();
    expect(thrown).toEqual(plain);
    expect(thrown.ok).toBe(true);
    expect(seen).toHaveLength(3); // manifest.json and the two members
    expectOneProgressWarning(warnings);
  });

  it('verifyChecksums and writeChecksums give the same result as without it', async () => {
    const files = ['one.bin', 'two.bin'];
    for (const f of files) writeFileSync(join(dir, f), `${f}\n`);
    const sums = join(dir, 'SHA256SUMS');
    writeFileSync(
      sums,
      files
        .map(
          (f) =>
            `${createHash('sha256')
              .update(readFileSync(join(dir, f)))
              .digest('hex')}  ${f}\n`,
        )
        .join(''),
    );
    const plain = (await verifyChecksums(sums))._unsafeUnwrap();
    const warnings: string[] = [];
    const thrown = (await verifyChecksums(sums, { onProgress: throwingProgress(), logger: warningsLogger(warnings) }))._unsafeUnwrap();
    expect(thrown).toEqual(plain);
    expect(thrown.ok).toBe(true);
    expectOneProgressWarning(warnings);

    const rejected = (await verifyChecksums(sums, { onProgress: rejectingProgress() }))._unsafeUnwrap();
    expect(rejected).toEqual(plain);

    const written = (await writeChecksums(files, join(dir, 'WRITTEN'), { onProgress: throwingProgress() }))._unsafeUnwrap();
    expect(readFileSync(join(dir, 'WRITTEN'), 'utf8')).toBe(readFileSync(sums, 'utf8'));
    expect(written.entries.map((e) => e.path)).toEqual(files);
    await settle();
    expect(unobserved.rejections).toEqual([]);
  });

  it('an index backfill appends every row and releases its lock', async () => {
    const { root, index } = await smallTree('throwing-progress', ['ep-0', 'ep-1', 'ep-2']);
    const warnings: string[] = [];
    const seen: unknown[] = [];
    const report = (
      await backfillIndex({
        episodesRoot: root,
        index,
        concurrency: 1,
        onProgress: throwingProgress(seen),
        logger: warningsLogger(warnings),
      })
    )._unsafeUnwrap();
    expect(report.rows.map((r) => r.episode_id)).toEqual(['ep-0', 'ep-1', 'ep-2']);
    expect(report.appended).toBe(3);
    expect(seen).toHaveLength(3);
    expect(readFileSync(index, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
    expect(existsSync(`${index}.backfill.lock`)).toBe(false);
    expectOneProgressWarning(warnings);
  });

  it('a statement backfill evaluates every document and commits every batch', async () => {
    const docs = await seedDocuments(db.url, { seed: 11, count: 120, brokenRatio: 0 });
    const seen: unknown[] = [];
    const summary = (
      await backfillSingleProcess(db.url, { runId: 'thrown', batchSize: 25, onProgress: throwingProgress(seen) })
    )._unsafeUnwrap();
    const want = expectedCounters(docs);
    expect({
      evaluated: summary.evaluated,
      backfilled: summary.backfilled,
      claimsWritten: summary.claimsWritten,
      skipped: summary.skipped,
      failures: summary.failures,
    }).toEqual(want);
    expect(seen).toHaveLength(Math.ceil(docs.length / 25));
    const [row] = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM vex.statements');
    expect(Number(row!.n)).toBe(want.claimsWritten);
    await settle();
    expect(unobserved.rejections).toEqual([]);
  });
});
