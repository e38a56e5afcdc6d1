import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync as compress, zstdDecompressSync as decompress } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { commitFromMeta, MetaProbe } from '../../../src/index-backfill/episode-meta.js';
import { scanEpisode } from '../../../src/index-backfill/episode-scan.js';
import { HashPool } from '../../../src/index-backfill/hash-pool.js';
import { buildEpisodeTarball, type EpisodeTarballOptions } from '../../../src/testing/episode-tarball.js';
import { needTools } from '../../support/tmp.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-ib-scan-'));
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const sha256sumTool = needTools('sha256sum');
let n = 0;

async function build(options: EpisodeTarballOptions): Promise<string> {
  n += 1;
  const path = join(dir, `ep-${n}.tar.zst`);
  (await buildEpisodeTarball({ ...options, path }))._unsafeUnwrap();
  return path;
}

function write(bytes: Uint8Array): string {
  n += 1;
  const path = join(dir, `raw-${n}.tar.zst`);
  writeFileSync(path, bytes);
  return path;
}

const hashes = new HashPool(16 * 1024, 2);
afterAll(() => hashes.close());
const hashFile = (fd: number, path: string) => hashes.hash(fd, path);
const scan = async (path: string, requireHexCommit = false, bufferBytes = 64 * 1024) =>
  (
    await scanEpisode(path, {
      buffer: Buffer.allocUnsafe(bufferBytes),
      hashFile,
      maxDecompressedBytes: 1 << 30,
      maxMetaBytes: 1 << 20,
      requireHexCommit,
    })
  )._unsafeUnwrap();

const meta = (commit: unknown) => ({ code_version: { commit } });

describe('commitFromMeta (the runbook tool rule: a 40-character string, lowercased)', () => {
  const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
  it.each([
    ['lowercase hex', meta(COMMIT), COMMIT],
    ['uppercase hex is lowercased', meta(COMMIT.toUpperCase()), COMMIT],
    ['40 non-hex characters are taken, as the runbook tool does', meta('Z'.repeat(40)), 'z'.repeat(40)],
    ['40 astral code points (Python len)', meta('😀'.repeat(40)), '😀'.repeat(40)],
    ['NaN elsewhere in the file', `{"x": NaN, "code_version": {"commit": "${COMMIT}"}}`, COMMIT],
  ])('%s', (_label, input, expected) => {
    expect(commitFromMeta(bytes(input), 'x', false)._unsafeUnwrap()).toBe(expected);
  });

  it.each([
    ['39 characters', meta(COMMIT.slice(1))],
    ['a number', meta(12)],
    ['code_version is a list', { code_version: [COMMIT] }],
    ['code_version missing', { episode: 1 }],
    ['not an object', [COMMIT]],
    ['a byte-order mark', `\ufeff${JSON.stringify(meta(COMMIT))}`],
    ['truncated JSON', '{"code_version": {"commit": '],
  ])('no commit when %s', (_label, input) => {
    const r = commitFromMeta(bytes(input), 'x', false);
    expect(r.isErr() && r.error.code).toBe('EPISODE_META_INVALID');
  });

  it('no commit for invalid UTF-8', () => {
    expect(commitFromMeta(Buffer.from([0x7b, 0xff, 0x7d]), 'x', false).isErr()).toBe(true);
  });

  it('requireHexCommit refuses 40 non-hex characters', () => {
    expect(commitFromMeta(bytes(meta('Z'.repeat(40))), 'x', true).isErr()).toBe(true);
    expect(commitFromMeta(bytes(meta(COMMIT.toUpperCase())), 'x', true)._unsafeUnwrap()).toBe(COMMIT);
  });
});

describe('scanEpisode', () => {
  it.skipIf(sha256sumTool.missing)(
    sha256sumTool.title('hashes every byte (oracle: sha256sum) and finds meta.json first, last, or in a folder, whatever the probe buffer'),
    async () => {
      const big = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 2654435761) >>> 24));
      for (const options of [
        { meta: meta(COMMIT), files: { 'frames.bin': big } },
        { meta: meta(COMMIT), metaLast: true, files: { 'frames.bin': big } },
        { meta: meta(COMMIT), metaName: 'episode-7/meta.json', files: { 'episode-7/a.bin': 'a' } },
      ]) {
        const path = await build(options);
        for (const bufferBytes of [4096, 8 * 1024 * 1024]) {
          const r = await scan(path, false, bufferBytes);
          expect({ sha256: r.sha256, size: r.size }).toEqual({
            sha256: spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0],
            size: statSync(path).size,
          });
          expect(r.commit).toBe(COMMIT);
          expect(r.problem).toBeUndefined();
        }
      }
    },
  );

  it('hashes an empty file and one that is not an archive, and gives neither a commit', async () => {
    for (const path of [write(new Uint8Array(0)), write(Buffer.alloc(100_000, 7))]) {
      const r = await scan(path);
      expect([r.sha256, r.size, r.commit]).toEqual([
        createHash('sha256').update(readFileSync(path)).digest('hex'),
        statSync(path).size,
        undefined,
      ]);
      expect(r.problem?.code).toMatch(/^COMPRESSION_/);
    }
  });

  it('takes the first member whose name ends in meta.json, as the runbook tool does', async () => {
    const path = await build({
      meta: meta('A'.repeat(40)),
      metaName: 'xmeta.json',
      files: { 'z/meta.json': JSON.stringify(meta(COMMIT)) },
    });
    expect((await scan(path)).commit).toBe('a'.repeat(40));
  });

  it('stops decompressing at meta.json, yet bytes after the last zstd frame give no commit, as zstd -d fails on them', async () => {
    const tar = decompress(
      (await buildEpisodeTarball({ meta: meta(COMMIT), files: { 'b.bin': Buffer.alloc(400_000, 7) } }))._unsafeUnwrap().bytes,
    );
    const head = compress(tar.subarray(0, 10_240));
    expect((await scan(write(head))).commit).toBe(COMMIT);
    const path = write(Buffer.concat([head, Buffer.from('this is not zstd at all, and the runbook tool would fail here')]));
    const r = await scan(path);
    expect(r.commit).toBeUndefined();
    expect(r.problem?.code).toBe('COMPRESSION_CORRUPT');
  });

  it('gives no commit, with a coded problem, for broken archives', async () => {
    const good = (
      await buildEpisodeTarball({
        meta: meta(COMMIT),
        metaLast: true,
        files: { 'b.bin': Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 255)) },
      })
    )._unsafeUnwrap().bytes;
    const corrupt = Buffer.from(good);
    corrupt.fill(0x5a, 4, 64);
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 100), /^COMPRESSION_TRUNCATED|TAR_TRUNCATED$/],
      ['corrupt', corrupt, /^COMPRESSION_CORRUPT|TAR_CORRUPT$/],
      ['empty', Buffer.alloc(0), /^COMPRESSION_TRUNCATED$/],
      ['plain tar', decompress(good), /^COMPRESSION_CORRUPT$/],
      ['random bytes', Buffer.from('0123456789'.repeat(100)), /^COMPRESSION_CORRUPT$/],
      ['zstd of something that is not tar', compress(Buffer.alloc(5000, 1)), /^TAR_CORRUPT$/],
    ];
    for (const [label, bytes, code] of cases) {
      const path = write(bytes);
      const r = await scan(path);
      expect({ label, commit: r.commit }).toEqual({ label, commit: undefined });
      expect(r.problem?.code, label).toMatch(code);
      // The warning names the tarball: the CLI prints only the message.
      expect(r.problem?.message, label).toMatch(new RegExp(`^${path}: .*; the row is written without commit\\.$`, 's'));
      expect(r.problem?.context['path'], label).toBe(path);
      expect(r.size).toBe(bytes.length);
    }
  });

  it('reads gzip too, as `zstd -d` does', async () => {
    const tar = decompress((await buildEpisodeTarball({ meta: meta(COMMIT), files: {} }))._unsafeUnwrap().bytes);
    expect((await scan(write(gzipSync(tar)))).commit).toBe(COMMIT);
  });

  it('reports a missing file and a directory as unreadable', async () => {
    const missing = await scanEpisode(join(dir, 'nope.tar.zst'), {
      buffer: Buffer.alloc(1024),
      hashFile,
      maxDecompressedBytes: 1e9,
      maxMetaBytes: 1e6,
      requireHexCommit: false,
    });
    expect(missing.isErr() && missing.error.code).toBe('IO_ERROR');
    const directory = await scanEpisode(dir, {
      buffer: Buffer.alloc(1024),
      hashFile,
      maxDecompressedBytes: 1e9,
      maxMetaBytes: 1e6,
      requireHexCommit: false,
    });
    expect(directory.isErr() && directory.error.code).toBe('IO_ERROR');
  });

  it('with noFollow refuses a path that is a symbolic link (a tarball swapped for a link after the walk)', async () => {
    const target = await build({ meta: meta(COMMIT), files: {} });
    const link = join(dir, 'swapped.tar.zst');
    symlinkSync(target, link);
    const options = { buffer: Buffer.alloc(1024), hashFile, maxDecompressedBytes: 1e9, maxMetaBytes: 1e6, requireHexCommit: false };
    const refused = await scanEpisode(link, { ...options, noFollow: true });
    expect(refused.isErr() && refused.error).toMatchObject({ code: 'IO_ERROR', cause: { code: 'ELOOP' } });
    expect((await scanEpisode(link, options))._unsafeUnwrap().commit).toBe(COMMIT);
  });

  it('gives up at maxDecompressedBytes (decompression bomb guard) with SIZE_LIMIT_EXCEEDED', async () => {
    const path = await build({ meta: meta(COMMIT), metaLast: true, files: { 'zeros.bin': Buffer.alloc(8 * 1024 * 1024) } });
    const r = (
      await scanEpisode(path, {
        buffer: Buffer.alloc(64 * 1024),
        hashFile,
        maxDecompressedBytes: 1024 * 1024,
        maxMetaBytes: 1e6,
        requireHexCommit: false,
      })
    )._unsafeUnwrap();
    expect(r.commit).toBeUndefined();
    expect(r.problem?.code).toBe('SIZE_LIMIT_EXCEEDED');
    expect(r.problem?.message.startsWith(`${path}: `)).toBe(true);
    expect((await scan(path)).commit).toBe(COMMIT);
  });

  it('refuses a meta.json larger than maxMetaBytes', async () => {
    const path = await build({ meta: { pad: 'x'.repeat(5000), ...meta(COMMIT) }, files: {} });
    const r = (
      await scanEpisode(path, {
        buffer: Buffer.alloc(4096),
        hashFile,
        maxDecompressedBytes: 1e9,
        maxMetaBytes: 1000,
        requireHexCommit: false,
      })
    )._unsafeUnwrap();
    expect(r.commit).toBeUndefined();
    expect(r.problem?.code).toBe('EPISODE_META_INVALID');
  });
});

describe('MetaProbe reads only the head of a tarball whose meta.json comes first', () => {
  it('finds the commit from the first 256 KiB of a one-frame 4 MiB tarball, without the rest of the file', async () => {
    const { randomBytes } = await import('node:crypto');
    const built = (
      await buildEpisodeTarball({ meta: meta(COMMIT), files: { 'frames.bin': randomBytes(4 * 1024 * 1024) } })
    )._unsafeUnwrap();
    // One zstd frame that declares its size: the case the probe used to buffer and decode whole.
    expect(built.bytes.length).toBeGreaterThan(4 * 1024 * 1024);
    const probe = new MetaProbe({ path: 'head-only', maxDecompressedBytes: 1 << 30, maxMetaBytes: 1 << 20, requireHexCommit: false });
    await probe.write(built.bytes.subarray(0, 256 * 1024));
    // Never end(): the rest of the file is not given, so the answer must come from the head alone.
    const outcome = await Promise.race([probe.outcome, new Promise((r) => setTimeout(() => r('no answer from the head'), 3000))]);
    probe.stop();
    expect(outcome).toEqual({ commit: COMMIT });
  });
});
