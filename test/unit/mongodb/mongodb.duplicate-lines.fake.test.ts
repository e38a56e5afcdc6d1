/**
 * `onInvalid: 'reject'` into MongoDB: when the target reports a duplicate
 * `_id`, the importer's second read names the lines that share it as the
 * `_id` index compares them (numbers by value, types never equal), not by
 * the id's text. Otherwise a valid line whose id only reads like the
 * duplicate's (`"1"` beside `1` and `1.0`) is rejected in its place, and
 * the count check, which adds loaded and rejected, cannot notice.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BSON } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/write-dataset.js';
import { StagingImporter } from '../../../src/staging/staging-importer.js';
import { fakeStagingTarget } from '../../support/fake-mongo-staging.js';
import { tempDir } from '../../support/tmp.js';

const HEX = '65a1f0c2e4b0a1b2c3d4e5f6';
const dir = tempDir('bk-mongo-dup-lines-');

interface Case {
  readonly what: string;
  /** The member's lines, as written. */
  readonly lines: readonly string[];
  /** The lines the import must reject (1-based). */
  readonly rejected: readonly number[];
  /** The stored documents' `v`, sorted. */
  readonly stored: readonly string[];
}

const cases: readonly Case[] = [
  {
    what: 'the string "1" before the int 1 and the double 1.0',
    lines: ['{"_id":"1","v":"string"}', '{"_id":1,"v":"int"}', '{"_id":1.0,"v":"double"}'],
    rejected: [3],
    stored: ['int', 'string'],
  },
  {
    what: 'the int 1, the string "1", the double 1.0',
    lines: ['{"_id":1,"v":"int"}', '{"_id":"1","v":"string"}', '{"_id":1.0,"v":"double"}'],
    rejected: [3],
    stored: ['int', 'string'],
  },
  {
    what: 'an ObjectId, the string of its hex, the ObjectId again',
    lines: [`{"_id":{"$oid":"${HEX}"},"v":"oid"}`, `{"_id":"${HEX}","v":"string"}`, `{"_id":{"$oid":"${HEX}"},"v":"oid again"}`],
    rejected: [3],
    stored: ['oid', 'string'],
  },
  {
    what: 'the hex string before an ObjectId twice',
    lines: [`{"_id":"${HEX}","v":"string"}`, `{"_id":{"$oid":"${HEX}"},"v":"oid"}`, `{"_id":{"$oid":"${HEX}"},"v":"oid again"}`],
    rejected: [3],
    stored: ['oid', 'string'],
  },
  {
    what: 'one ObjectId spelled in upper and in lower case',
    lines: [`{"_id":{"$oid":"${HEX.toUpperCase()}"},"v":"upper"}`, `{"_id":{"$oid":"${HEX}"},"v":"lower"}`],
    rejected: [2],
    stored: ['upper'],
  },
];

async function importCase(c: Case, batchSize: number) {
  const path = join(dir, `${c.what.replace(/\W+/g, '-')}-${batchSize}.tar.zst`);
  (await writeDataset(path, { members: { 'a.ndjson': c.lines } }))._unsafeUnwrap();
  const { fake, target } = fakeStagingTarget(batchSize);
  const rejectPath = `${path}.rejects.ndjson`;
  const importer = new StagingImporter({ target, tables: { 'a.ndjson': 'alpha' } });
  const report = await importer.import(path, { onInvalid: 'reject', rejectPath });
  return { fake, report, rejectPath };
}

describe("onInvalid: 'reject' sets aside the lines MongoDB's _id index finds equal, and only those", () => {
  it.for(cases.flatMap((c) => [1, 1000].map((size) => [c.what, size, c] as const)))('%s, batchSize %s', async ([, size, c]) => {
    const { fake, report, rejectPath } = await importCase(c, size);
    const r = report._unsafeUnwrap();
    expect(r.committed).toBe(true);
    expect(r.tables[0]).toMatchObject({ loaded: c.lines.length - c.rejected.length, rejected: c.rejected.length, ok: true });
    const rejects = readFileSync(rejectPath, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { line: number; code: string });
    expect(rejects.map((e) => [e.line, e.code])).toEqual(c.rejected.map((l) => [l, 'DUPLICATE_ID']));
    const stored = (fake.documents('alpha') ?? []).map((d) => String(d.v)).sort();
    expect(stored).toEqual([...c.stored]);
  });

  it('counts each id the index tells apart as its own duplicate against maxDuplicateRetries', async () => {
    const c: Case = {
      what: 'two ids, each twice, whose text is the same',
      lines: ['{"_id":"1","v":"s1"}', '{"_id":1,"v":"n1"}', '{"_id":"1","v":"s2"}', '{"_id":1.0,"v":"n2"}'],
      rejected: [3, 4],
      stored: ['n1', 's1'],
    };
    const { report } = await importCase(c, 1000);
    expect(report._unsafeUnwrap().attempts).toBe(3);
    const path = join(dir, 'retries-1.tar.zst');
    (await writeDataset(path, { members: { 'a.ndjson': c.lines } }))._unsafeUnwrap();
    const { target } = fakeStagingTarget(1000);
    const importer = new StagingImporter({ target, tables: { 'a.ndjson': 'alpha' } });
    const failed = await importer.import(path, { onInvalid: 'reject', maxDuplicateRetries: 1 });
    const e = failed._unsafeUnwrapErr();
    expect(e.code).toBe('DUPLICATE_ID');
    expect(e.message).toContain('maxDuplicateRetries reached');
    expect(e.context.lines).toHaveLength(2);
  });

  it('stores the ObjectId and the hex string as two documents of their own types', async () => {
    const { fake } = await importCase(cases[2]!, 1000);
    const ids = (fake.documents('alpha') ?? []).map((d) => (d._id instanceof BSON.ObjectId ? 'oid' : typeof d._id));
    expect(ids.sort()).toEqual(['oid', 'string']);
  });
});
