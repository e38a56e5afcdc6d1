import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { handTarball, ndjson, run, scratch, sha256File, TABLES } from './fixtures.js';
import { oneDigitOff } from '../../support/hex-digest.js';
import { needTools } from '../../support/tmp.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** `pg_terminate_backend(pid)`, run by a child process that this thread waits for. */
function terminateBackendNow(url: string, pid: number): void {
  const script =
    "import pg from 'pg'; const c = new pg.Client(process.argv[1]); await c.connect(); await c.query('SELECT pg_terminate_backend($1)', [Number(process.argv[2])]); await c.end();";
  execFileSync(process.execPath, ['--input-type=module', '-e', script, url, String(pid)], { cwd: repoRoot, stdio: 'inherit' });
}

let db: TestDatabase;
let dir: string;
let good: string; // 340 linksets + 1200 chunks, written by the library
const tools = needTools('tar', 'zstd');
const digestTools = needTools('tar', 'zstd', 'sha256sum');

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch();
  good = join(dir, 'good.tar.zst');
  const written = await writeDataset(good, {
    members: { 'linksets.ndjson': generateLinksets(340, 7), 'advisory_chunks.ndjson': generateAdvisoryChunks(1200, 42) },
  });
  expect(written.isOk()).toBe(true);
});
afterAll(async () => {
  await db.drop();
});

function importer(schema = 'lnm_raw', extra: Partial<ConstructorParameters<typeof StagingImporter>[0]> = {}): StagingImporter {
  return new StagingImporter({ pg: db.pool, schema, tables: TABLES, ...extra });
}

async function counts(schema: string): Promise<Record<string, number>> {
  const rows = await db.query<{ t: string; n: string }>(
    `SELECT 'linksets_raw' AS t, count(*) AS n FROM "${schema}".linksets_raw UNION ALL SELECT 'advisory_chunks_raw', count(*) FROM "${schema}".advisory_chunks_raw`,
  );
  return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
}

/** Puts known "old" contents into the tables, to show they survive a failure. */
async function seedOld(schema: string): Promise<void> {
  const r = await importer(schema).import(good);
  expect(r.isOk(), r.isErr() ? r.error.message : '').toBe(true);
  await db.query(`DELETE FROM "${schema}".linksets_raw WHERE id <> (SELECT min(id) FROM "${schema}".linksets_raw)`);
  await db.query(`INSERT INTO "${schema}".linksets_raw VALUES ('old-row', '{"old":true}')`);
}

async function expectOld(schema: string): Promise<void> {
  expect(await counts(schema)).toEqual({ linksets_raw: 2, advisory_chunks_raw: 1200 });
  const [row] = await db.query<{ raw: unknown }>(`SELECT raw FROM "${schema}".linksets_raw WHERE id = 'old-row'`);
  expect(row?.raw).toEqual({ old: true });
}

describe('StagingImporter.import', () => {
  it('loads every member, checks counts against the manifest and reports', async () => {
    const r = await importer('s_basic').import(good, { expectedSha256: sha256File(good) });
    const report = r._unsafeUnwrap();
    expect(report.committed).toBe(true);
    expect(report.sha256).toBe(sha256File(good));
    expect(report.bytes).toBe(readFileSync(good).length);
    expect(report.tables).toEqual([
      { member: 'linksets.ndjson', table: 'linksets_raw', loaded: 340, rejected: 0, expected: 340, ok: true },
      { member: 'advisory_chunks.ndjson', table: 'advisory_chunks_raw', loaded: 1200, rejected: 0, expected: 1200, ok: true },
    ]);
    expect(report.checks).toEqual(expect.arrayContaining(['tarball sha256', 'row counts']));
    expect(report.manifest?.members.map((m) => m.name).sort()).toEqual(['advisory_chunks.ndjson', 'linksets.ndjson']);
    expect(report.rowsPerSecond).toBeGreaterThan(0);
    expect(report.lock?.lockMode).toBe('ACCESS EXCLUSIVE');
    // psql as an independent counter.
    const viaPsql = run('psql', ['-tA', db.url, '-c', 'SELECT count(*) FROM s_basic.linksets_raw']).trim();
    expect(viaPsql).toBe('340');
  });

  it('stores every record exactly, including quotes, backslashes, tabs, newlines, CRs and emoji', async () => {
    const rows = await db.query<{ id: string; raw: Record<string, unknown> }>('SELECT id, raw FROM s_basic.linksets_raw');
    const byId = new Map(rows.map((r) => [r.id, r.raw]));
    const expected = [...generateLinksets(340, 7)];
    expect(byId.size).toBe(340);
    for (const rec of expected) expect(byId.get(rec._id)).toEqual(JSON.parse(JSON.stringify(rec)));
    // {"$oid"} ids become the hex string.
    const chunk = [...generateAdvisoryChunks(1, 42)][0]!;
    const [c] = await db.query<{ raw: unknown }>('SELECT raw FROM s_basic.advisory_chunks_raw WHERE id = $1', [chunk._id.$oid]);
    expect(c?.raw).toEqual(JSON.parse(JSON.stringify(chunk)));
  });

  it('replaces the previous contents (truncate and swap)', async () => {
    for (const strategy of ['truncate', 'swap'] as const) {
      const schema = `s_replace_${strategy}`;
      await seedOld(schema);
      const r = await importer(schema).import(good, { strategy });
      expect(r._unsafeUnwrap().committed).toBe(true);
      expect(await counts(schema)).toEqual({ linksets_raw: 340, advisory_chunks_raw: 1200 });
      expect(await db.query(`SELECT 1 FROM "${schema}".linksets_raw WHERE id = 'old-row'`)).toEqual([]);
    }
    // The swapped-in table has a primary key again, under the usual name.
    const pk = await db.query<{ conname: string }>(
      "SELECT conname FROM pg_constraint WHERE conrelid = 's_replace_swap.linksets_raw'::regclass AND contype = 'p'",
    );
    expect(pk.map((r) => r.conname)).toEqual(['linksets_raw_pkey']);
    const leftovers = await db.query("SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%'");
    expect(leftovers).toEqual([]);
    // An old table a killed swap left behind (between COMMIT and DROP) goes with the next swap.
    await db.query('CREATE TABLE s_replace_swap._bk_old_deadbeef_0 (id text)');
    await db.query(
      "COMMENT ON TABLE s_replace_swap._bk_old_deadbeef_0 IS '@stella/backfill-kit swap import deadbeef: old contents of s_replace_swap.linksets_raw; dropped by the next swap import if left behind'",
    );
    const next = (await importer('s_replace_swap').import(good, { strategy: 'swap' }))._unsafeUnwrap();
    expect(next.dropped[0]).toBe('s_replace_swap._bk_old_deadbeef_0');
    expect(next.dropped.slice(1).every((t) => /^s_replace_swap\._bk_old_[0-9a-f]{8}_[01]$/.test(t))).toBe(true);
    expect(next.dropped).toHaveLength(3);
    expect(await db.query("SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%'")).toEqual([]);
  });

  it('truncate keeps the table itself (views, grants, primary key name); swap refuses to drop a table a view depends on', async () => {
    await seedOld('s_keep');
    await db.query('CREATE VIEW s_keep.v AS SELECT id FROM s_keep.linksets_raw');
    await db.query('GRANT SELECT ON s_keep.linksets_raw TO PUBLIC');
    const [oid] = await db.query<{ oid: number }>("SELECT 's_keep.linksets_raw'::regclass::oid AS oid");
    expect((await importer('s_keep').import(good)).isOk()).toBe(true);
    const [after] = await db.query<{ oid: number; acl: string }>(
      "SELECT oid, relacl::text AS acl FROM pg_class WHERE oid = 's_keep.linksets_raw'::regclass",
    );
    expect(after?.oid).toBe(oid?.oid);
    expect(after?.acl).toContain('=r/');
    expect(await db.query('SELECT count(*)::int AS n FROM s_keep.v')).toEqual([{ n: 340 }]);
    const pk = await db.query<{ conname: string }>(
      "SELECT conname FROM pg_constraint WHERE conrelid = 's_keep.linksets_raw'::regclass AND contype = 'p'",
    );
    expect(pk.map((r) => r.conname)).toEqual(['linksets_raw_pkey']);
    const e = (await importer('s_keep').import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('DB_ERROR');
    expect(e.dbCode).toBe('2BP01');
    expect(await db.query('SELECT count(*)::int AS n FROM s_keep.v')).toEqual([{ n: 340 }]);
  });

  it.skipIf(tools.missing)(
    tools.title('never commits 0 rows when the manifest says 340 (the "COPY 0, exit 0" of the runbook recipe)'),
    async () => {
      await seedOld('s_zero');
      const tarball = handTarball(dir, 'zero.tar.zst', [
        { name: 'linksets.ndjson', text: '', records: 340 },
        { name: 'advisory_chunks.ndjson', text: ndjson([...generateAdvisoryChunks(1200, 42)]) },
      ]);
      for (const strategy of ['truncate', 'swap'] as const) {
        const r = await importer('s_zero').import(tarball, { strategy });
        const e = r._unsafeUnwrapErr();
        expect(e.code).toBe('COUNT_MISMATCH');
        expect(e.message).toContain('the manifest says 340 records, but 0 rows were loaded');
        expect(e.partial?.committed).toBe(false);
        expect(e.partial?.tables.map((t) => t.loaded)).toEqual([0, 1200]);
        await expectOld('s_zero');
      }
    },
  );

  it.skipIf(tools.missing)(tools.title('reads a tar-made archive with manifest.json last'), async () => {
    const tarball = handTarball(dir, 'last.tar.zst', [
      {
        name: 'linksets.ndjson',
        text: ndjson([
          { _id: 'a', n: 1 },
          { _id: 2, n: 2 },
          { _id: { $oid: '65a1f0c2e4b0a1b2c3d4e5f6' }, n: 3 },
        ]),
      },
      { name: 'advisory_chunks.ndjson', text: `${ndjson([{ _id: 'c1' }])}\n\n` },
    ]);
    expect(run('tar', ['--zstd', '-tf', tarball]).trim().split('\n').at(-1)).toBe('manifest.json');
    const r = (await importer('s_last').import(tarball))._unsafeUnwrap();
    expect(r.tables.map((t) => t.loaded)).toEqual([3, 1]);
    const ids = await db.query<{ id: string }>('SELECT id FROM s_last.linksets_raw ORDER BY id COLLATE "C"');
    expect(ids.map((x) => x.id)).toEqual(['2', '65a1f0c2e4b0a1b2c3d4e5f6', 'a']);
  });

  it.skipIf(tools.missing)(tools.title('fails on bad lines naming the member and line, leaving the old contents'), async () => {
    await seedOld('s_bad');
    const cases: [string, string, string][] = [
      ['{"_id":"a"}\n{"_id":"b"}\n{"_id": oops}\n', 'JSON_MALFORMED', 'linksets.ndjson line 3'],
      ['{"_id":"a"}\n[1,2]\n', 'RECORD_NOT_OBJECT', 'linksets.ndjson line 2'],
      ['{"_id":"a"}\n{"id":"b"}\n', 'RECORD_INVALID', 'linksets.ndjson line 2: field `_id` is missing'],
      ['{"_id":""}\n', 'RECORD_INVALID', 'linksets.ndjson line 1: field `_id` is empty'],
      ['{"_id":"a"}\n{"_id":"b","t":"x\\u0000y"}\n', 'JSONB_UNSUPPORTED', 'linksets.ndjson line 2, column 18'],
      ['{"_id":"a","t":"\\ud800"}\n', 'JSONB_UNSUPPORTED', 'linksets.ndjson line 1'],
    ];
    for (const [i, [text, code, fragment]] of cases.entries()) {
      const tarball = handTarball(dir, `bad${i}.tar.zst`, [
        { name: 'linksets.ndjson', text },
        { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
      ]);
      for (const strategy of ['truncate', 'swap'] as const) {
        const e = (await importer('s_bad').import(tarball, { strategy }))._unsafeUnwrapErr();
        expect(e.code, text).toBe(code);
        expect(e.message).toContain(fragment);
        expect(e.context.member).toBe('linksets.ndjson');
        await expectOld('s_bad');
      }
    }
  });

  it.skipIf(tools.missing)(
    tools.title('maps a row PostgreSQL refuses (numeric overflow) back to its member line, past rejected lines'),
    async () => {
      await seedOld('s_overflow');
      const text = ['{"_id":"a"}', '', '{"bad":1}', '{"_id":"b"}', '{"_id":"c","n":1e999999}', '{"_id":"d"}', ''].join('\n');
      const tarball = handTarball(dir, 'overflow.tar.zst', [
        { name: 'linksets.ndjson', text },
        { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
      ]);
      for (const strategy of ['truncate', 'swap'] as const) {
        const e = (
          await importer('s_overflow').import(tarball, { strategy, onInvalid: 'reject', rejectPath: join(dir, 'overflow.rejects') })
        )._unsafeUnwrapErr();
        expect(e.code).toBe('DB_ERROR');
        expect(e.dbCode).toBe('22003');
        expect(e.message).toMatch(/^linksets\.ndjson line 5: /);
        expect(e.context).toMatchObject({ member: 'linksets.ndjson', line: 5 });
        await expectOld('s_overflow');
      }
    },
  );

  it.skipIf(tools.missing)(tools.title('loads \\\\u0000 (an escaped backslash) as text, which jsonb accepts'), async () => {
    const tarball = handTarball(dir, 'escaped.tar.zst', [
      { name: 'linksets.ndjson', text: '{"_id":"a","t":"\\\\u0000 and \\\\\\\\ and tab\\t"}\n' },
      { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
    ]);
    expect((await importer('s_escaped').import(tarball)).isOk()).toBe(true);
    const [row] = await db.query<{ t: string }>("SELECT raw->>'t' AS t FROM s_escaped.linksets_raw");
    expect(row?.t).toBe('\\u0000 and \\\\ and tab\t');
  });

  it.skipIf(tools.missing)(
    tools.title('loads a line with a raw tab and a bare CR between its tokens, which JSON reads as blanks'),
    async () => {
      // COPY's text format ends a row at a bare CR and a column at a tab: both must reach PostgreSQL escaped.
      const tarball = handTarball(dir, 'blanks.tar.zst', [
        { name: 'linksets.ndjson', text: '{"_id":"a",\t"t":\r"x"}\n{"_id":"b",\r\t"t":"y"}\n' },
        { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
      ]);
      expect((await importer('s_blanks').import(tarball))._unsafeUnwrap().rows).toBe(3);
      expect(await db.query("SELECT id, raw->>'t' AS t FROM s_blanks.linksets_raw ORDER BY id")).toEqual([
        { id: 'a', t: 'x' },
        { id: 'b', t: 'y' },
      ]);
    },
  );

  it.skipIf(tools.missing)(tools.title('names the duplicate id and both lines, for both strategies, and commits nothing'), async () => {
    await seedOld('s_dup');
    const lines = [{ _id: 'a' }, { _id: 'b' }, { _id: 'c' }, { _id: 'b', again: true }, { _id: 'd' }];
    const tarball = handTarball(dir, 'dup.tar.zst', [
      { name: 'linksets.ndjson', text: ndjson(lines) },
      { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
    ]);
    for (const strategy of ['truncate', 'swap'] as const) {
      const e = (await importer('s_dup').import(tarball, { strategy }))._unsafeUnwrapErr();
      expect(e.code).toBe('DUPLICATE_ID');
      expect(e.message).toContain('linksets.ndjson: id "b" appears on lines 2 and 4');
      expect(e.context).toMatchObject({ member: 'linksets.ndjson', id: 'b', lines: [2, 4], line: 4 });
      expect(e.dbCode).toBe('23505');
      await expectOld('s_dup');
    }
  });

  it.skipIf(tools.missing)(tools.title("onInvalid: 'reject' loads the good lines and writes every bad one with its reason"), async () => {
    const text = [
      '{"_id":"a"}',
      '{"_id": nope}',
      '{"_id":"b","t":"\\u0000"}',
      '{"x":1}',
      '{"_id":"c"}',
      '{"_id":"a","dup":true}',
      '{"_id":"d"}',
      '{"_id":"c","dup":true}',
      '',
    ].join('\n');
    const tarball = handTarball(dir, 'reject.tar.zst', [
      { name: 'linksets.ndjson', text },
      { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
    ]);
    const rejectPath = join(dir, 'rejects.ndjson');
    const report = (await importer('s_reject').import(tarball, { onInvalid: 'reject', rejectPath }))._unsafeUnwrap();
    expect(report.tables[0]).toEqual({ member: 'linksets.ndjson', table: 'linksets_raw', loaded: 3, rejected: 5, expected: 8, ok: true });
    expect(report.rejected).toBe(5);
    expect(report.attempts).toBe(3);
    const rejects = readFileSync(rejectPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; code: string; reason: string; raw: string });
    expect(rejects.map((x) => [x.line, x.code])).toEqual([
      [2, 'JSON_MALFORMED'],
      [3, 'JSONB_UNSUPPORTED'],
      [4, 'RECORD_INVALID'],
      [6, 'DUPLICATE_ID'],
      [8, 'DUPLICATE_ID'],
    ]);
    expect(rejects[3]?.reason).toContain('duplicates line 1');
    expect(rejects[0]?.raw).toBe('{"_id": nope}');
    const ids = await db.query<{ id: string }>('SELECT id FROM s_reject.linksets_raw ORDER BY id');
    expect(ids.map((r) => r.id)).toEqual(['a', 'c', 'd']);
    const [first] = await db.query<{ raw: unknown }>("SELECT raw FROM s_reject.linksets_raw WHERE id = 'a'");
    expect(first?.raw).toEqual({ _id: 'a' });
  });

  it("the second read that finds a duplicate's lines uses the import's maxLineBytes: onInvalid 'reject' rejects it past a line over the default", async () => {
    // A 1 MiB default line limit stands in for the real 64 MiB one (a line over that takes ~20 s to
    // write and read); the staging modules are loaded afresh so that both of their reads see it.
    const dataset = await import('../../../src/dataset/defaults.js');
    vi.resetModules();
    vi.doMock('../../../src/dataset/defaults.js', () => ({ ...dataset, DEFAULT_MAX_LINE_BYTES: 1024 ** 2 }));
    try {
      const { StagingImporter: Importer } = await import('../../../src/staging/index.js');
      const path = join(dir, 'dup-past-long-line.tar.zst');
      const long = { _id: 'long', pad: 'x'.repeat(2 * 1024 ** 2) };
      const members = { 'linksets.ndjson': [{ _id: 'a', n: 1 }, long, { _id: 'a', n: 2 }], 'advisory_chunks.ndjson': [{ _id: 'c' }] };
      (await writeDataset(path, { members }))._unsafeUnwrap();
      const imp = new Importer({ pg: db.pool, schema: 's_dup_long', tables: TABLES });
      const maxLineBytes = 4 * 1024 ** 2;
      const rejectPath = join(dir, 'dup-long.rejects.ndjson');
      // Without the raised limit, the first read refuses the long line: the stand-in default is in force.
      expect((await imp.import(path))._unsafeUnwrapErr().code).toBe('LINE_TOO_LONG');
      const failed = (await imp.import(path, { maxLineBytes }))._unsafeUnwrapErr();
      expect(failed.message).toContain('linksets.ndjson: id "a" appears on lines 1 and 3');
      const report = (await imp.import(path, { maxLineBytes, onInvalid: 'reject', rejectPath }))._unsafeUnwrap();
      expect(report.tables[0]).toMatchObject({ loaded: 2, rejected: 1, ok: true });
      expect(readFileSync(rejectPath, 'utf8')).toContain('"line":3,"code":"DUPLICATE_ID"');
    } finally {
      vi.doUnmock('../../../src/dataset/defaults.js');
      vi.resetModules();
    }
  });

  it.skipIf(tools.missing)(tools.title('the manifest check counts rejects explicitly: rejects plus rows must equal records'), async () => {
    const tarball = handTarball(dir, 'reject-lie.tar.zst', [
      { name: 'linksets.ndjson', text: '{"_id":"a"}\n{"bad":1}\n', records: 3 },
      { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
    ]);
    const e = (
      await importer('s_reject_lie').import(tarball, { onInvalid: 'reject', rejectPath: join(dir, 'r2.ndjson') })
    )._unsafeUnwrapErr();
    expect(e.code).toBe('COUNT_MISMATCH');
    expect(e.message).toContain('the manifest says 3 records, but 1 rows were loaded into linksets_raw and 1 lines rejected');
  });

  it('dryRun validates everything (even duplicates) and writes nothing', async () => {
    const fresh = (await importer('s_dry_new').import(good, { dryRun: true }))._unsafeUnwrap();
    expect(fresh.committed).toBe(false);
    expect(fresh.dryRun).toBe(true);
    expect(fresh.tables.map((t) => [t.loaded, t.expected])).toEqual([
      [340, 340],
      [1200, 1200],
    ]);
    expect(await db.query("SELECT 1 FROM pg_namespace WHERE nspname = 's_dry_new'")).toEqual([]);
    await seedOld('s_dry');
    expect((await importer('s_dry').import(good, { dryRun: true })).isOk()).toBe(true);
    await expectOld('s_dry');
    if (!tools.missing) {
      const tarball = handTarball(dir, 'dry-dup.tar.zst', [
        { name: 'linksets.ndjson', text: ndjson([{ _id: 'x' }, { _id: 'x' }]) },
        { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
      ]);
      const e = (await importer('s_dry').import(tarball, { dryRun: true }))._unsafeUnwrapErr();
      expect(e.code).toBe('DUPLICATE_ID');
      expect(e.message).toContain('lines 1 and 2');
      await expectOld('s_dry');
    }
  });

  it.skipIf(tools.missing)(tools.title('refuses archives that do not match their manifest or the expected SHA-256'), async () => {
    await seedOld('s_mismatch');
    const missing = handTarball(dir, 'missing.tar.zst', [{ name: 'linksets.ndjson', text: ndjson([{ _id: 'a' }]) }]);
    const e1 = (await importer('s_mismatch').import(missing))._unsafeUnwrapErr();
    expect(e1.code).toBe('MANIFEST_MISMATCH');
    expect(e1.message).toContain('no member advisory_chunks.ndjson');
    const unlisted = handTarball(
      dir,
      'unlisted.tar.zst',
      [
        { name: 'linksets.ndjson', text: ndjson([{ _id: 'a' }]) },
        { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
      ],
      { omitFromManifest: ['advisory_chunks.ndjson'] },
    );
    expect((await importer('s_mismatch').import(unlisted))._unsafeUnwrapErr().message).toContain(
      'manifest.json does not list advisory_chunks.ndjson',
    );
    const e3 = (await importer('s_mismatch').import(good, { expectedSha256: '0'.repeat(64) }))._unsafeUnwrapErr();
    expect(e3.code).toBe('CHECKSUM_MISMATCH');
    // One hex digit off, at the end, is as much a mismatch.
    const e4 = (await importer('s_mismatch').import(good, { expectedSha256: oneDigitOff(sha256File(good)) }))._unsafeUnwrapErr();
    expect(e4.code).toBe('CHECKSUM_MISMATCH');
    await expectOld('s_mismatch');
  });

  it.skipIf(digestTools.missing)(
    digestTools.title("checks each member's SHA-256 against the manifest: a member whose bytes differ is refused"),
    async () => {
      // Same record count and size as the manifest says, other bytes: only the member's digest tells them apart.
      const claimed = ndjson([{ _id: 'a', v: 1 }]);
      const stored = ndjson([{ _id: 'a', v: 2 }]);
      const digest = (text: string): string => run('sha256sum', [], text).slice(0, 64);
      const chunks = ndjson([{ _id: 'c' }]);
      const member = (text: string, sha256: string) => [
        { name: 'linksets.ndjson', text, sha256 },
        { name: 'advisory_chunks.ndjson', text: chunks, sha256: digest(chunks) },
      ];
      await seedOld('s_member_digest');
      const changed = handTarball(dir, 'member-changed.tar.zst', member(stored, digest(claimed)));
      const e = (await importer('s_member_digest').import(changed))._unsafeUnwrapErr();
      expect(e.code).toBe('CHECKSUM_MISMATCH');
      expect(e.context).toMatchObject({ member: 'linksets.ndjson', digest: digest(stored) });
      // The right bytes, listed with a digest one hex digit off at its end: refused too.
      const off = handTarball(dir, 'member-digest-off.tar.zst', member(stored, oneDigitOff(digest(stored))));
      const eOff = (await importer('s_member_digest').import(off))._unsafeUnwrapErr();
      expect(eOff.code).toBe('CHECKSUM_MISMATCH');
      expect(eOff.context).toMatchObject({ member: 'linksets.ndjson', digest: digest(stored) });
      await expectOld('s_member_digest');
      // The same archive with the right digest listed loads, and says it checked the members.
      const right = handTarball(dir, 'member-right.tar.zst', member(stored, digest(stored)));
      const report = (await importer('s_member_digest').import(right))._unsafeUnwrap();
      expect(report.checks).toContain('member sha256');
      expect(await counts('s_member_digest')).toEqual({ linksets_raw: 1, advisory_chunks_raw: 1 });
    },
  );

  it('a truncated or corrupt tarball fails with its reader code and nothing is committed', async () => {
    await seedOld('s_corrupt');
    const bytes = readFileSync(good);
    const cut = join(dir, 'cut.tar.zst');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0xff;
    const bad = join(dir, 'flipped.tar.zst');
    writeFileSync(bad, flipped);
    for (const [path, codes] of [
      [cut, ['COMPRESSION_TRUNCATED', 'TAR_TRUNCATED']],
      [bad, ['COMPRESSION_CORRUPT', 'TAR_CORRUPT', 'ENCODING_INVALID', 'JSON_MALFORMED', 'CHECKSUM_MISMATCH']],
    ] as const) {
      for (const strategy of ['truncate', 'swap'] as const) {
        const e = (await importer('s_corrupt').import(path, { strategy }))._unsafeUnwrapErr();
        expect(codes as readonly string[]).toContain(e.code);
        await expectOld('s_corrupt');
      }
    }
  });

  it('maps members to tables in other schemas ("schema.table")', async () => {
    const imp = new StagingImporter({
      pg: db.pool,
      schema: 's_home',
      tables: { 'linksets.ndjson': 's_elsewhere.ls', 'advisory_chunks.ndjson': 'chunks' },
    });
    for (const strategy of ['truncate', 'swap'] as const) expect((await imp.import(good, { strategy })).isOk()).toBe(true);
    expect(
      await db.query('SELECT (SELECT count(*)::int FROM s_elsewhere.ls) AS a, (SELECT count(*)::int FROM s_home.chunks) AS b'),
    ).toEqual([{ a: 340, b: 1200 }]);
    expect((await imp.counts())._unsafeUnwrap()).toEqual({ 's_elsewhere.ls': 340, chunks: 1200 });
  });

  it('an AbortSignal stops the import and nothing is committed', async () => {
    await seedOld('s_abort');
    const ac = new AbortController();
    const r = await importer('s_abort').import(good, {
      signal: ac.signal,
      batchBytes: 4096,
      progressEveryRows: 100,
      onProgress: (p) => {
        if (p.rows >= 200) ac.abort();
      },
    });
    expect(r._unsafeUnwrapErr().code).toBe('ABORTED');
    await expectOld('s_abort');
  });

  it('an onProgress that throws at any phase changes nothing: the import commits, and every connection is given back', async () => {
    for (const phase of ['load', 'verify', 'commit', 'done'] as const) {
      for (const strategy of ['truncate', 'swap'] as const) {
        await seedOld('s_progress');
        const r = await importer('s_progress').import(good, {
          strategy,
          onProgress: (p) => {
            if (p.phase === phase) throw new Error(`caller failed at ${phase}`);
          },
        });
        expect(r._unsafeUnwrap().committed, `${phase}/${strategy}`).toBe(true);
        expect(await counts('s_progress')).toEqual({ linksets_raw: 340, advisory_chunks_raw: 1200 });
      }
    }
    // Every session gave its connection back: none is still checked out.
    expect(db.pool.totalCount - db.pool.idleCount).toBe(0);
  });

  it('a lost connection fails with DB_CONNECTION and nothing is committed', async () => {
    await seedOld('s_lost');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    client.on('error', () => {});
    const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    let killed = false;
    const r = await new StagingImporter({ pg: client, schema: 's_lost', tables: TABLES }).import(good, {
      batchBytes: 4096,
      progressEveryRows: 100,
      onProgress: (p) => {
        if (p.rows >= 200 && !killed) {
          killed = true;
          // Synchronously, from another process: the import can't move (or
          // commit) until its backend has been told to die.
          terminateBackendNow(db.url, pid);
        }
      },
    });
    expect(killed).toBe(true);
    expect(['DB_CONNECTION', 'DB_ERROR']).toContain(r._unsafeUnwrapErr().code);
    await client.end().catch(() => undefined);
    await expectOld('s_lost');
  });

  it('accepts a connection string and a pg.Client as well as a pool', async () => {
    const viaUrl = new StagingImporter({ pg: db.url, schema: 's_url', tables: TABLES });
    expect((await viaUrl.import(good))._unsafeUnwrap().rows).toBe(1540);
    expect((await viaUrl.counts())._unsafeUnwrap()).toEqual({ linksets_raw: 340, advisory_chunks_raw: 1200 });
    await viaUrl.close();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const viaClient = new StagingImporter({ pg: client, schema: 's_url', tables: TABLES });
    expect((await viaClient.import(good, { strategy: 'swap' }))._unsafeUnwrap().rows).toBe(1540);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  });

  it('rollback() empties the staging tables and counts() reports per table', async () => {
    const imp = importer('s_rollback');
    expect((await imp.import(good)).isOk()).toBe(true);
    expect((await imp.counts())._unsafeUnwrap()).toEqual({ linksets_raw: 340, advisory_chunks_raw: 1200 });
    expect((await imp.rollback()).isOk()).toBe(true);
    expect((await imp.counts())._unsafeUnwrap()).toEqual({ linksets_raw: 0, advisory_chunks_raw: 0 });
    expect((await importer('s_never_made').counts())._unsafeUnwrapErr().code).toBe('TABLE_NOT_FOUND');
  });

  it('truncate refuses a table without its primary key (duplicates would go unnoticed)', async () => {
    await db.query(
      'CREATE SCHEMA s_nopk; CREATE TABLE s_nopk.linksets_raw (id text, raw jsonb); CREATE TABLE s_nopk.advisory_chunks_raw (id text PRIMARY KEY, raw jsonb)',
    );
    await db.query(`INSERT INTO s_nopk.linksets_raw VALUES ('keep', '{}')`);
    for (const dryRun of [true, false]) {
      // A dry run says so too, rather than passing an import that would fail.
      const e = (await importer('s_nopk').import(good, { dryRun }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain('it has no primary key, so duplicate ids would load unnoticed');
    }
    expect(await db.query('SELECT id FROM s_nopk.linksets_raw')).toEqual([{ id: 'keep' }]);
    expect((await importer('s_nopk').import(good, { strategy: 'swap' })).isOk()).toBe(true);
  });

  it('truncate refuses a key on id whose collation is nondeterministic (distinct ids could collide in it), dry run included', async (ctx) => {
    const [icu] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_collation WHERE collprovider = 'i'`);
    if (icu?.n === 0) return ctx.skip('this PostgreSQL was built without ICU, so it has no nondeterministic collation to test with');
    await db.query(`CREATE SCHEMA s_ci; CREATE COLLATION s_ci.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE TABLE s_ci.linksets_raw (id text COLLATE s_ci.ci PRIMARY KEY, raw jsonb NOT NULL);
      INSERT INTO s_ci.linksets_raw VALUES ('keep', '{}')`);
    const file = join(dir, 'look-alike-ids.tar.zst');
    (await writeDataset(file, { members: { 'linksets.ndjson': [{ _id: 'A' }, { _id: 'a' }] } }))._unsafeUnwrap();
    const linksets = new StagingImporter({ pg: db.pool, schema: 's_ci', tables: { 'linksets.ndjson': 'linksets_raw' } });
    for (const dryRun of [true, false]) {
      const e = (await linksets.import(file, { dryRun }))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(
        'column id has the nondeterministic collation s_ci.ci, so distinct ids (such as "A" and "a") could collide in its key',
      );
    }
    expect(await db.query('SELECT id FROM s_ci.linksets_raw')).toEqual([{ id: 'keep' }]);
  });

  it('uses a configured idField', async () => {
    const d = scratch();
    const path = join(d, 'keyed.tar.zst');
    await writeDataset(path, {
      members: { 'linksets.ndjson': [{ key: 'k1' }, { key: 7 }], 'advisory_chunks.ndjson': [{ key: { $oid: 'ab' } }] },
    });
    expect((await importer('s_key', { idField: 'key' }).import(path)).isOk()).toBe(true);
    const ids = await db.query<{ id: string }>(
      'SELECT id FROM s_key.linksets_raw UNION ALL SELECT id FROM s_key.advisory_chunks_raw ORDER BY 1',
    );
    expect(ids.map((r) => r.id)).toEqual(['7', 'ab', 'k1']);
  });

  it('refuses hostile schema and table names with INVALID_IDENTIFIER before any SQL runs', async () => {
    await db.query('CREATE TABLE canary (x int)');
    const hostile = [
      { schema: 'lnm_raw"; DROP TABLE canary; --', tables: TABLES },
      { schema: 'lnm_raw', tables: { 'linksets.ndjson': 'x; DROP TABLE canary' } },
      { schema: 'lnm_raw', tables: { 'linksets.ndjson': 'a.b.c' } },
      { schema: 'lnm_raw', tables: { 'linksets.ndjson': 'canary"' } },
      { schema: '', tables: TABLES },
      { schema: 'x'.repeat(64), tables: TABLES },
    ];
    for (const config of hostile) {
      const imp = new StagingImporter({ pg: db.pool, ...config });
      expect((await imp.import(good))._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
      expect((await imp.rollback())._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
      expect((await imp.counts())._unsafeUnwrapErr().code).toBe('INVALID_IDENTIFIER');
    }
    expect(await db.query('SELECT count(*)::int AS n FROM canary')).toEqual([{ n: 0 }]);
  });

  it('validates options instead of throwing', async () => {
    const imp = importer('s_opts');
    expect((await imp.import(good, { strategy: 'merge' as never }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await imp.import(good, { onInvalid: 'skip' as never }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await imp.import(join(dir, 'nope.tar.zst')))._unsafeUnwrapErr().code).toBe('IO_ERROR');
    expect(existsSync(join(dir, 'nope.tar.zst'))).toBe(false);
  });
});
