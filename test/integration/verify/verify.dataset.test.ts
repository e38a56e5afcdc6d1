/**
 * verifyDataset on tarballs made by writeDataset and by GNU tar + zstd with
 * hand-written manifests; the tarball SHA-256 oracle is sha256sum.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { oneDigitOff } from '../../support/hex-digest.js';
import { fifoReaderWaiting, needTools } from '../../support/tmp.js';

const tools = needTools('sha256sum', 'tar', 'zstd');

let dir: string;

function sha(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function sha256sum(file: string): string {
  return execFileSync('sha256sum', [file]).toString('utf8').slice(0, 64);
}

const linksets = Array.from({ length: 340 }, (_, i) => ({ _id: `ls-${i}`, advisory: `CVE-2025-${1000 + i}`, note: 'ünïcode ✓' }));
const chunks = Array.from({ length: 1200 }, (_, i) => ({ _id: { $oid: i.toString(16).padStart(24, '0') }, chunk: 'x'.repeat(i % 50) }));

/** A .tar.zst made by GNU tar and zstd, members in the order given (manifest wherever it is listed). */
function tarZst(name: string, files: Record<string, string>): string {
  const src = join(dir, `${name}.src`);
  mkdirSync(src, { recursive: true });
  for (const [file, body] of Object.entries(files)) writeFileSync(join(src, file), body);
  const tarPath = join(dir, `${name}.tar`);
  execFileSync('tar', ['--format=ustar', '-cf', tarPath, '-C', src, ...Object.keys(files)]);
  execFileSync('zstd', ['-q', '-f', '--rm', tarPath, '-o', `${tarPath}.zst`]);
  return `${tarPath}.zst`;
}

const ndjson = (rows: object[]): string => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-verify-ds-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(tools.missing)(tools.title('verifyDataset'), () => {
  let written: string;
  beforeAll(async () => {
    mkdirSync(join(dir, 'w'));
    written = join(dir, 'w', 'linksets-stage-backfill.tar.zst');
    (await writeDataset(written, { members: { 'linksets.ndjson': linksets, 'advisory_chunks.ndjson': chunks } }))._unsafeUnwrap();
  });

  it('passes a dataset written by writeDataset, checking everything in one pass', async () => {
    const progress: string[] = [];
    const report = (
      await verifyDataset(written, { expectedSha256: sha256sum(written).toUpperCase(), onProgress: (p) => progress.push(p.member) })
    )._unsafeUnwrap();
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.archive).toMatchObject({
      verdict: 'ok',
      expectedFrom: 'option',
      actualSha256: sha256sum(written),
      bytes: statSync(written).size,
      compression: 'zstd',
    });
    expect(report.checks).toEqual({ archiveSha256: true, memberRecords: true, memberBytes: true, memberSha256: true });
    expect(report.members.map((m) => [m.name, m.verdict, m.actual?.records])).toEqual([
      ['advisory_chunks.ndjson', 'ok', 1200],
      ['linksets.ndjson', 'ok', 340],
    ]);
    const body = ndjson(linksets);
    expect(report.members[1]?.actual).toEqual({ records: 340, bytes: Buffer.byteLength(body), sha256: sha(body) });
    expect(progress).toEqual(['manifest.json', 'advisory_chunks.ndjson', 'linksets.ndjson']);
  });

  it('finds the expected SHA-256 in <file>.sha256, then in SHA256SUMS', async () => {
    const noSums = (await verifyDataset(written))._unsafeUnwrap();
    expect(noSums.archive.verdict).toBe('not-checked');
    expect(noSums.checks.archiveSha256).toBe(false);
    expect(noSums.ok).toBe(true);

    execFileSync('bash', ['-c', 'sha256sum linksets-stage-backfill.tar.zst > SHA256SUMS'], { cwd: join(dir, 'w') });
    const fromSums = (await verifyDataset(written))._unsafeUnwrap();
    expect(fromSums.archive).toMatchObject({ verdict: 'ok', expectedFrom: 'SHA256SUMS', expectedFile: join(dir, 'w', 'SHA256SUMS') });

    // a sidecar that disagrees with SHA256SUMS is refused: sha256sum --check fails the tarball against one of them
    writeFileSync(`${written}.sha256`, `${'0'.repeat(64)}  out/linksets/linksets-stage-backfill.tar.zst\n`);
    expect((await verifyDataset(written))._unsafeUnwrapErr().code).toBe('CHECKSUM_LINE_MALFORMED');
    // alone, the sidecar is used, and a path in it (as `sha256sum dir/file` writes) still matches by base name
    rmSync(join(dir, 'w', 'SHA256SUMS'));
    const wrong = (await verifyDataset(written))._unsafeUnwrap();
    expect(wrong.ok).toBe(false);
    expect(wrong.archive).toMatchObject({ verdict: 'mismatch', expectedFrom: 'sha256-file', expectedSha256: '0'.repeat(64) });
    expect(wrong.problems.map((p) => p.code)).toEqual(['CHECKSUM_MISMATCH']);
    expect(wrong.members.every((m) => m.verdict === 'ok')).toBe(true);

    writeFileSync(`${written}.sha256`, `${sha256sum(written)}\n`);
    expect((await verifyDataset(written))._unsafeUnwrap().archive.verdict).toBe('ok');
    writeFileSync(`${written}.sha256`, 'not a checksum\n');
    expect((await verifyDataset(written))._unsafeUnwrapErr().code).toBe('CHECKSUM_LINE_MALFORMED');
    expect((await verifyDataset(written, { useSiblingChecksums: false }))._unsafeUnwrap().archive.verdict).toBe('not-checked');
    rmSync(`${written}.sha256`);
  });

  it('a <file>.sha256 that is a FIFO nobody writes: refused at once, leaving no thread waiting', async () => {
    const sidecar = `${written}.sha256`;
    execFileSync('mkfifo', [sidecar]);
    try {
      expect((await verifyDataset(written))._unsafeUnwrapErr().code).toBe('IO_ERROR');
      expect(fifoReaderWaiting(sidecar)).toBe(false);
    } finally {
      rmSync(sidecar);
    }
  }, 20_000);

  it('reads a tar+zstd archive with the manifest last and only record counts in it', async () => {
    const path = tarZst('counts-only', {
      'linksets.ndjson': ndjson(linksets),
      'advisory_chunks.ndjson': `\n${ndjson(chunks)}\n`,
      'manifest.json': JSON.stringify({
        schemaVersion: 1,
        members: [
          { name: 'linksets.ndjson', records: 340 },
          { name: 'advisory_chunks.ndjson', records: 1200, extra: 'kept' },
        ],
      }),
    });
    const report = (await verifyDataset(path))._unsafeUnwrap();
    expect(report.ok).toBe(true);
    expect(report.checks).toEqual({ archiveSha256: false, memberRecords: true, memberBytes: false, memberSha256: false });
    expect(report.members.map((m) => m.checks)).toEqual([['records'], ['records']]);
  });

  it('reports every kind of manifest mismatch member by member', async () => {
    const body = ndjson(linksets);
    const path = tarZst('mismatch', {
      'manifest.json': JSON.stringify({
        schemaVersion: 1,
        members: [
          { name: 'linksets.ndjson', records: 341, bytes: Buffer.byteLength(body), sha256: sha(body) },
          { name: 'advisory_chunks.ndjson', records: 1200, bytes: 5, sha256: sha('something else') },
          { name: 'gone.ndjson', records: 3 },
        ],
      }),
      'linksets.ndjson': body,
      'advisory_chunks.ndjson': ndjson(chunks),
      'stray.ndjson': '{"_id":1}\n',
    });
    const report = (await verifyDataset(path))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    const byName = Object.fromEntries(report.members.map((m) => [m.name, m]));
    expect(byName['linksets.ndjson']).toMatchObject({
      verdict: 'mismatch',
      mismatches: ['records'],
      checks: ['records', 'bytes', 'sha256'],
      expected: { records: 341 },
      actual: { records: 340 },
    });
    expect(byName['advisory_chunks.ndjson']).toMatchObject({ verdict: 'mismatch', mismatches: ['bytes', 'sha256'] });
    expect(byName['gone.ndjson']).toMatchObject({ verdict: 'missing-from-archive', actual: null });
    expect(byName['stray.ndjson']).toMatchObject({ verdict: 'missing-from-manifest', expected: null, actual: { records: 1 } });
    expect(report.problems.map((p) => [p.code, p.context.member])).toEqual([
      ['MANIFEST_MISMATCH', 'linksets.ndjson'],
      ['MANIFEST_MISMATCH', 'advisory_chunks.ndjson'],
      ['MANIFEST_MISMATCH', 'gone.ndjson'],
      ['MANIFEST_MISMATCH', 'stray.ndjson'],
    ]);
    expect(report.problems[0]?.message).toContain('records expected 341, got 340');
  });

  it('a digest one hex digit off at its end is a mismatch, for the tarball and for a member', async () => {
    const archive = (await verifyDataset(written, { expectedSha256: oneDigitOff(sha256sum(written)) }))._unsafeUnwrap();
    expect(archive.ok).toBe(false);
    expect(archive.archive.verdict).toBe('mismatch');
    expect(archive.problems.map((p) => p.code)).toEqual(['CHECKSUM_MISMATCH']);

    const body = ndjson(linksets);
    const path = tarZst('member-digest-off', {
      'manifest.json': JSON.stringify({
        schemaVersion: 1,
        members: [{ name: 'linksets.ndjson', records: 340, bytes: Buffer.byteLength(body), sha256: oneDigitOff(sha(body)) }],
      }),
      'linksets.ndjson': body,
    });
    const member = (await verifyDataset(path))._unsafeUnwrap();
    expect(member.ok).toBe(false);
    expect(member.members.map((m) => [m.name, m.verdict, m.mismatches])).toEqual([['linksets.ndjson', 'mismatch', ['sha256']]]);
  });

  it('a missing manifest is a failed report, not an exception', async () => {
    const path = tarZst('no-manifest', { 'linksets.ndjson': ndjson(linksets) });
    const report = (await verifyDataset(path, { expectedSha256: sha256sum(path) }))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.manifest).toBeNull();
    expect(report.archive.verdict).toBe('ok');
    expect(report.problems.map((p) => p.code)).toEqual(['MANIFEST_MISSING']);
  });

  it('a manifest listing 150,000 members the archive lacks is a report with a problem for each, not a stack overflow', async () => {
    // 150,000 entries fit well inside the 16 MiB manifest limit; spreading that many problems into one call overflowed the stack.
    const listed = Array.from({ length: 150_000 }, (_, i) => ({ name: `gone-${i}.ndjson`, records: 0 }));
    const path = tarZst('huge-manifest', {
      'manifest.json': JSON.stringify({ schemaVersion: 1, members: [{ name: 'linksets.ndjson', records: 340 }, ...listed] }),
      'linksets.ndjson': ndjson(linksets),
    });
    const report = (await verifyDataset(path, { expectedSha256: sha256sum(path) }))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(150_000);
    expect(report.problems.at(-1)?.message).toBe('gone-149999.ndjson: listed in manifest.json but not in the archive.');
  });

  it('unreadable input is an Err with the reader’s code', async () => {
    const copy = join(dir, 'truncated.tar.zst');
    writeFileSync(copy, readFileSync(written));
    truncateSync(copy, Math.floor(statSync(copy).size / 2));
    const truncated = await verifyDataset(copy);
    expect(truncated.isErr()).toBe(true);
    expect(['COMPRESSION_TRUNCATED', 'COMPRESSION_CORRUPT', 'TAR_TRUNCATED']).toContain(truncated._unsafeUnwrapErr().code);
    expect((await verifyDataset(join(dir, 'nope.tar.zst')))._unsafeUnwrapErr().code).toBe('IO_ERROR');
    expect((await verifyDataset(written, { expectedSha256: 'abc' }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    const controller = new AbortController();
    controller.abort();
    expect((await verifyDataset(written, { signal: controller.signal }))._unsafeUnwrapErr().code).toBe('ABORTED');
  });
});
