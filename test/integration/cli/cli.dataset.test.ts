import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { hasTool, run, sh, tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const hasTarZstd = hasTool('tar') && hasTool('zstd') && hasTool('sha256sum');
if (!hasTarZstd) console.warn('[cli.dataset] tar/zstd/sha256sum missing: the oracle-built datasets are skipped');

let db: TestDatabase;
const dir = tempDir('bk-cli-dataset-');
const env = (): Record<string, string> => ({ PGURI: db.url, PGSCHEMA: 'cli_stage' });

/** Row count and a digest of every (id, raw) pair, via SQL (independent of the CLI's own report). */
async function tableState(table: string): Promise<{ count: number; digest: string }> {
  const [row] = await db.query<{ count: string; digest: string | null }>(
    `SELECT count(*)::text AS count, md5(string_agg(id || ' ' || raw::text, E'\\n' ORDER BY id COLLATE "C")) AS digest FROM cli_stage.${table}`,
  );
  return { count: Number(row!.count), digest: row!.digest ?? '' };
}

/** A dataset made by GNU tar + zstd with a hand-written manifest (which may lie). */
function handMadeDataset(name: string, members: Record<string, string>, manifestRecords: Record<string, number>): string {
  const src = join(dir, `${name}-src`);
  mkdirSync(src, { recursive: true });
  for (const [member, text] of Object.entries(members)) writeFileSync(join(src, member), text);
  const manifest = {
    schemaVersion: 1,
    name,
    members: Object.keys(members)
      .sort()
      .map((m) => ({ name: m, records: manifestRecords[m] })),
  };
  writeFileSync(join(src, 'manifest.json'), JSON.stringify(manifest));
  const out = join(dir, `${name}.tar.zst`);
  sh(`tar -C ${JSON.stringify(src)} -cf - manifest.json ${Object.keys(members).join(' ')} | zstd -q -o ${JSON.stringify(out)}`);
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('backfill-kit dataset', () => {
  const tarball = join(dir, 'linksets-stage-backfill.tar.zst');

  it('build writes a tarball and a .sha256 that sha256sum --check accepts; verify exits 0', async () => {
    const built = await cli(['dataset', 'build', tarball, '--linksets', '40', '--chunks', '60', '--seed', '3']);
    expect(built.code, built.stderr).toBe(0);
    const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex');
    expect(built.stdout).toContain(`${sha}  ${tarball}`);
    if (hasTarZstd) {
      expect(sh(`sha256sum --check linksets-stage-backfill.tar.zst.sha256`, dir)).toContain('OK');
      expect(run('tar', ['--zstd', '-tf', tarball]).trim().split('\n')).toEqual([
        'manifest.json',
        'advisory_chunks.ndjson',
        'linksets.ndjson',
      ]);
    }
    const verified = await cli(['dataset', 'verify', tarball, '--json']);
    expect(verified.code).toBe(0);
    const report = jsonOf(verified).report;
    expect(report.ok).toBe(true);
    expect(report.archive.verdict).toBe('ok');
    expect(report.archive.actualSha256).toBe(sha);
  });

  it('build is deterministic: the same flags give the same bytes', async () => {
    const again = join(dir, 'again.tar.zst');
    // The manifest's name defaults to the file name, so name it like the first one.
    const r = await cli([
      'dataset',
      'build',
      again,
      '--linksets',
      '40',
      '--chunks',
      '60',
      '--seed',
      '3',
      '--name',
      'linksets-stage-backfill',
      '--quiet',
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(again).equals(readFileSync(tarball))).toBe(true);
  });

  it.skipIf(!hasTarZstd)(
    `build --from packs each file byte for byte (CRLF, a bare CR, blank lines), counted as the reader counts; verify agrees${hasTarZstd ? '' : ' (skipped: needs tar, zstd and sha256sum)'}`,
    async () => {
      const src = join(dir, 'from-bytes');
      mkdirSync(src);
      const a = Buffer.from('{"_id":"a","s":"caf\u00e9"}\r\n\n{"_id":"b",\r"x":1}\n{"_id":"c"}');
      const b = Buffer.from('{"_id":"d"}\n');
      writeFileSync(join(src, 'a.ndjson'), a);
      writeFileSync(join(src, 'b.ndjson'), b);
      const out = join(dir, 'from-bytes.tar.zst');
      const built = await cli(['dataset', 'build', out, '--from', src, '--json']);
      expect(built.code, built.stderr).toBe(0);
      // It used to read the files as text lines: a bare CR split a record, CRLF became LF, blank lines went.
      const members = jsonOf(built).report.manifest.members;
      expect(members.map((m: { name: string; records: number }) => [m.name, m.records])).toEqual([
        ['a.ndjson', 3],
        ['b.ndjson', 1],
      ]);
      // The oracles: GNU tar extracts the very bytes, and sha256sum agrees with the manifest.
      for (const [name, bytes] of [
        ['a.ndjson', a],
        ['b.ndjson', b],
      ] as const) {
        expect(sh(`zstd -dc '${out}' | tar -xOf - ${name} | sha256sum`).split(' ')[0]).toBe(
          createHash('sha256').update(bytes).digest('hex'),
        );
        expect(members.find((m: { name: string }) => m.name === name).sha256).toBe(sh(`sha256sum '${join(src, name)}'`).split(' ')[0]);
      }
      const verified = await cli(['dataset', 'verify', out]);
      expect(verified.code, verified.stdout).toBe(0);
    },
  );

  it('build --from refuses a file that is not UTF-8, naming it and the byte, and writes nothing', async () => {
    const src = join(dir, 'from-latin1');
    mkdirSync(src);
    writeFileSync(
      join(src, 'a.ndjson'),
      Buffer.concat([Buffer.from('{"_id":"a"}\n{"_id":"b","s":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]),
    );
    const out = join(dir, 'from-latin1', 'out', 'd.tar.zst');
    const built = await cli(['dataset', 'build', out, '--from', src]);
    // It used to pack U+FFFD in place of the byte, and vouch for the changed bytes in the manifest.
    expect(built.code).toBe(5);
    expect(built.stderr).toContain(`ENCODING_INVALID`);
    expect(built.stderr).toContain(`${join(src, 'a.ndjson')}: not valid UTF-8 at byte 31 (line 2)`);
    expect(existsSync(join(src, 'out'))).toBe(false);
  });

  it('build --from packs regular files only, naming any other *.ndjson entry (a directory, a FIFO, a symlink out of the directory), and writes nothing', async () => {
    const outside = join(dir, 'from-outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.json'), '{"_id":"s"}\n');
    for (const [name, make, code, says] of [
      // It used to blame the output: "IO_ERROR: <out>.tar.zst: EISDIR: illegal operation on a directory, read".
      ['sub.ndjson', (p: string) => mkdirSync(p), 8, 'is a directory, not a regular file'],
      // It used to hang forever, waiting for a writer to open the FIFO.
      ['f.ndjson', (p: string) => sh(`mkfifo '${p}'`), 8, 'is a named pipe (FIFO), not a regular file'],
      // It used to pack the file the symlink leads to, from anywhere.
      ['link.ndjson', (p: string) => symlinkSync(join(outside, 'secret.json'), p), 2, `leads out of`],
    ] as const) {
      const src = join(dir, `from-odd-${name}`);
      mkdirSync(src);
      writeFileSync(join(src, 'a.ndjson'), '{"_id":"a"}\n');
      make(join(src, name));
      const out = join(src, 'out', 'd.tar.zst');
      const built = await cli(['dataset', 'build', out, '--from', src]);
      expect(built.code, built.stderr).toBe(code);
      expect(built.stderr).toContain(`${join(src, name)} ${says}`);
      expect(existsSync(join(src, 'out'))).toBe(false);
    }
    // A symlink to a file inside the directory is packed, under its own name.
    const src = join(dir, 'from-inner-link');
    mkdirSync(join(src, 'data'), { recursive: true });
    writeFileSync(join(src, 'data', 'real.json'), '{"_id":"a"}\n');
    symlinkSync(join('data', 'real.json'), join(src, 'a.ndjson'));
    const built = await cli(['dataset', 'build', join(dir, 'inner-link.tar.zst'), '--from', src, '--json']);
    expect(built.code, built.stderr).toBe(0);
    expect(jsonOf(built).report.manifest.members.map((m: { name: string; records: number }) => [m.name, m.records])).toEqual([
      ['a.ndjson', 1],
    ]);
  });

  it('verify: a wrong recorded SHA-256 exits 3 (CHECKSUM_MISMATCH); a corrupted tarball exits 5 (COMPRESSION_CORRUPT); no stack', async () => {
    const wrong = await cli(['dataset', 'verify', tarball, '--expected-sha256', '0'.repeat(64)]);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/^error CHECKSUM_MISMATCH: /m);
    expect(wrong.stdout).toContain('FAILED');
    const bad = join(dir, 'tampered.tar.zst');
    const bytes = readFileSync(tarball);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    writeFileSync(bad, bytes);
    const r = await cli(['dataset', 'verify', bad, '--expected-sha256', createHash('sha256').update(readFileSync(tarball)).digest('hex')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^error COMPRESSION_CORRUPT: /m);
    expect(r.stderr).toMatch(/fix: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('import refuses a .sha256 beside the tarball that names no digest for it (exit 3, its code, not an internal error)', async () => {
    const copy = join(dir, 'odd-sidecar.tar.zst');
    writeFileSync(copy, readFileSync(tarball));
    writeFileSync(`${copy}.sha256`, 'not a checksum line\n');
    const r = await cli(['dataset', 'import', copy], { env: { ...env(), DRY_RUN: '1' } });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^error CHECKSUM_LINE_MALFORMED: .*odd-sidecar\.tar\.zst\.sha256/m);
  });

  it('DRY_RUN=1 import validates and writes nothing', async () => {
    const r = await cli(['dataset', 'import', tarball], { env: { ...env(), DRY_RUN: '1' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Dry run');
    const exists = await db.query(`SELECT to_regclass('cli_stage.linksets_raw') AS t`);
    expect(exists[0]!['t'] === null || (await tableState('linksets_raw')).count === 0).toBe(true);
  });

  it('import refuses a member mapped twice by --table, and a runbook table flag or variable beside --table, before touching a table', async () => {
    const before = await tableState('linksets_raw').catch(() => null);
    for (const [args, extraEnv, message] of [
      [['--table', 'linksets.ndjson=a', '--table', 'linksets.ndjson=b'], {}, /--table maps linksets\.ndjson twice \(to a and to b\)/],
      // One member, spelled two ways (it used to be taken as two members).
      [['--table', 'linksets.ndjson=a', '--table', './linksets.ndjson=b'], {}, /--table maps linksets\.ndjson twice \(to a and to b\)/],
      [
        ['--table', 'linksets.ndjson=a', '--linksets-table', 'b'],
        {},
        /--linksets-table \(or LINKSETS_TABLE\) applies only without --table/,
      ],
      [['--table', 'linksets.ndjson=a'], { CHUNKS_TABLE: 'c' }, /--chunks-table \(or CHUNKS_TABLE\) applies only without --table/],
    ] as const) {
      const r = await cli(['dataset', 'import', tarball, ...args], { env: { ...env(), ...extraEnv } });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(await tableState('linksets_raw').catch(() => null)).toEqual(before);
    // The same mapping twice is no contradiction.
    const same = await cli(
      ['dataset', 'import', tarball, '--table', 'linksets.ndjson=linksets_raw', '--table', 'linksets.ndjson=linksets_raw'],
      {
        env: { ...env(), DRY_RUN: '1' },
      },
    );
    expect(same.code, same.stderr).toBe(0);
    // A member spelled as tar allows is the member (it used to be "the archive has no member ./linksets.ndjson").
    const dotted = await cli(
      ['dataset', 'import', tarball, '--table', './linksets.ndjson=linksets_raw', '--table', 'advisory_chunks.ndjson=advisory_chunks_raw'],
      { env: { ...env(), DRY_RUN: '1' } },
    );
    expect(dotted.code, dotted.stderr).toBe(0);
    expect(dotted.stdout).not.toContain('MISMATCH');
  });

  it('import loads the rows (psql agrees with the report) and exits 0', async () => {
    const r = await cli(['dataset', 'import', tarball, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = jsonOf(r);
    expect(out.ok).toBe(true);
    expect(out.report.committed).toBe(true);
    expect(out.report.tables.map((t: { loaded: number }) => t.loaded)).toEqual([40, 60]);
    const psql = run('psql', [
      '-tA',
      db.url,
      '-c',
      'select count(*) from cli_stage.linksets_raw; select count(*) from cli_stage.advisory_chunks_raw;',
    ]);
    expect(psql.trim().split('\n')).toEqual(['40', '60']);
  });

  it('import checks the <tarball>.sha256 that build wrote: a tarball that no longer matches it exits 3 and loads nothing; --no-sibling-checksums skips it', async () => {
    expect(jsonOf(await cli(['dataset', 'import', tarball, '--json'], { env: env() })).report.checks).toContain('tarball sha256');
    const before = await tableState('linksets_raw');
    const other = join(dir, 'other');
    mkdirSync(other, { recursive: true });
    const copy = join(other, 'linksets-stage-backfill.tar.zst');
    const built = await cli(['dataset', 'build', copy, '--linksets', '41', '--chunks', '60', '--seed', '3', '--quiet']);
    expect(built.code, built.stderr).toBe(0);
    // The recorded digest is the first build's: the tarball beside it was replaced.
    writeFileSync(`${copy}.sha256`, readFileSync(`${tarball}.sha256`));
    const refused = await cli(['dataset', 'import', copy], { env: env() });
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toMatch(/^error CHECKSUM_MISMATCH: /m);
    expect(await tableState('linksets_raw')).toEqual(before);
    const skipped = await cli(['dataset', 'import', copy, '--no-sibling-checksums', '--json'], { env: env() });
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(jsonOf(skipped).report.checks).not.toContain('tarball sha256');
    expect((await tableState('linksets_raw')).count).toBe(41);
    // Back to the first build's rows for the tests below.
    expect((await cli(['dataset', 'import', tarball], { env: env() })).code).toBe(0);
  });

  it('COPY 0, exit 0 can never happen: a manifest that disagrees exits non-zero and leaves the tables unchanged', async () => {
    const before = { l: await tableState('linksets_raw'), c: await tableState('advisory_chunks_raw') };
    expect(before.l.count).toBe(40);
    const cases: string[] = [];
    if (hasTarZstd) {
      // The runbook recipe's failure ("COPY 0, exit 0"): nothing loads, yet the manifest promises rows.
      cases.push(
        handMadeDataset(
          'empty-member',
          { 'linksets.ndjson': '', 'advisory_chunks.ndjson': '{"_id":"c1","x":1}\n' },
          { 'linksets.ndjson': 3, 'advisory_chunks.ndjson': 1 },
        ),
      );
      // One record fewer than the manifest says.
      cases.push(
        handMadeDataset(
          'short',
          { 'linksets.ndjson': '{"_id":"a"}\n{"_id":"b"}\n', 'advisory_chunks.ndjson': '{"_id":"c"}\n' },
          { 'linksets.ndjson': 3, 'advisory_chunks.ndjson': 1 },
        ),
      );
    } else {
      console.warn('[cli.dataset] skipped the hand-made manifest cases: needs tar and zstd');
    }
    for (const path of cases) {
      const r = await cli(['dataset', 'import', path, '--json'], { env: env() });
      expect(r.code, `${path}\n${r.stdout}\n${r.stderr}`).toBe(3);
      expect(r.stderr).toMatch(/^error COUNT_MISMATCH: /m);
      expect(r.stderr).toContain('Nothing was committed');
      // The import's partial report is the JSON report, printed once (not again inside the error).
      const doc = jsonOf(r);
      expect(doc).toMatchObject({ ok: false, exitCode: 3, error: { code: 'COUNT_MISMATCH' }, report: { committed: false } });
      expect(doc.report.tables.some((t: { ok: boolean }) => !t.ok)).toBe(true);
      expect(doc.error).not.toHaveProperty('partial');
      expect(await tableState('linksets_raw')).toEqual(before.l);
      expect(await tableState('advisory_chunks_raw')).toEqual(before.c);
    }
  });

  it('a failed import marks only the member whose count disagrees as MISMATCH; one it never checked says so', async (ctx) => {
    if (!hasTarZstd) ctx.skip('skipped: needs tar and zstd to hand-make a manifest');
    const path = handMadeDataset(
      'first-short',
      { 'linksets.ndjson': '{"_id":"a"}\n{"_id":"b"}\n', 'advisory_chunks.ndjson': '{"_id":"c"}\n' },
      { 'linksets.ndjson': 3, 'advisory_chunks.ndjson': 1 },
    );
    const r = await cli(['dataset', 'import', path], { env: env() });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(3);
    const lines = `${r.stdout}\n${r.stderr}`.split('\n');
    expect(lines.find((l) => l.includes('linksets.ndjson ') && l.includes('->'))).toMatch(/2 rows \(manifest 3\) MISMATCH$/);
    expect(lines.find((l) => l.includes('advisory_chunks.ndjson ') && l.includes('->'))).toMatch(/ 1 row \(count not checked\)$/);
  });

  it('--on-invalid reject loads the good lines but exits 4 and names the reject file', async (ctx) => {
    if (!hasTarZstd) ctx.skip('skipped: needs tar and zstd');
    const path = handMadeDataset(
      'with-bad-line',
      { 'linksets.ndjson': '{"_id":"a"}\n{not json\n{"_id":"b"}\n', 'advisory_chunks.ndjson': '{"_id":"c"}\n' },
      { 'linksets.ndjson': 3, 'advisory_chunks.ndjson': 1 },
    );
    const r = await cli(
      ['dataset', 'import', path, '--on-invalid', 'reject', '--linksets-table', 'rj_linksets', '--chunks-table', 'rj_chunks'],
      { env: env() },
    );
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toContain('rejected lines: 1');
    expect(readFileSync(`${path}.rejects.ndjson`, 'utf8')).toContain('not json');
    expect((await db.query(`SELECT count(*)::int AS n FROM cli_stage.rj_linksets`))[0]!['n']).toBe(2);
  });

  it('a line the staging table cannot take names --on-invalid reject, not the library option onInvalid', async (ctx) => {
    if (!hasTarZstd) ctx.skip('skipped: needs tar and zstd');
    const path = handMadeDataset(
      'with-nul-line',
      { 'linksets.ndjson': '{"_id":"a","t":"x\\u0000y"}\n', 'advisory_chunks.ndjson': '{"_id":"c"}\n' },
      { 'linksets.ndjson': 1, 'advisory_chunks.ndjson': 1 },
    );
    const r = await cli(['dataset', 'import', path, '--linksets-table', 'nul_linksets', '--chunks-table', 'nul_chunks'], { env: env() });
    expect(r.stderr).toMatch(/^error JSONB_UNSUPPORTED: .*; remove it, or import with --on-invalid reject\.$/m);
    expect(r.stderr).not.toContain('onInvalid');
  });

  it('export writes a tarball whose printed SHA-256 is right and whose members hold every row', async () => {
    const out = join(dir, 'exported.tar.zst');
    const r = await cli(['dataset', 'export', out], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
    expect(r.stdout).toContain(sha);
    const v = await cli(['dataset', 'verify', out, '--expected-sha256', sha, '--json']);
    expect(jsonOf(v).report.members.map((m: { name: string; actual: { records: number } }) => [m.name, m.actual.records])).toEqual([
      ['advisory_chunks.ndjson', 60],
      ['linksets.ndjson', 40],
    ]);
  });

  it('PG_DSN in Host=…;Database=… form works, and rollback empties the tables (before/after counts)', async () => {
    const u = new URL(db.url);
    const dsn = `Host=${u.hostname};Port=${u.port || '5432'};Database=${u.pathname.slice(1)};Username=${decodeURIComponent(u.username) || 'postgres'}${u.password ? `;Password=${decodeURIComponent(u.password)}` : ''}`;
    const dry = await cli(['dataset', 'rollback', '--dry-run'], { env: { PG_DSN: dsn, PGSCHEMA: 'cli_stage' } });
    expect(dry.code, dry.stderr).toBe(0);
    expect((await tableState('linksets_raw')).count).toBe(40);
    const r = await cli(['dataset', 'rollback', '--json'], { env: { PG_DSN: dsn, PGSCHEMA: 'cli_stage' } });
    expect(r.code, r.stderr).toBe(0);
    expect(jsonOf(r).report).toMatchObject({
      before: { linksets_raw: 40, advisory_chunks_raw: 60 },
      after: { linksets_raw: 0, advisory_chunks_raw: 0 },
    });
    expect((await tableState('linksets_raw')).count).toBe(0);
  });

  it('an unreachable database exits 6 with DB_CONNECTION; --debug adds the stack', async () => {
    const r = await cli(['dataset', 'rollback'], { env: { PGURI: 'postgres://nobody@127.0.0.1:1/none' } });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^error DB_CONNECTION: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const debug = await cli(['dataset', 'rollback', '--debug'], { env: { PGURI: 'postgres://nobody@127.0.0.1:1/none' } });
    expect(debug.code).toBe(6);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
