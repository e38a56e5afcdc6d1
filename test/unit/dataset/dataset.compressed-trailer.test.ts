import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

/**
 * What follows the tar's end-of-archive block in a compressed file is still
 * part of the compressed stream: its gzip CRC or zstd checksum, and anything
 * appended after the stream. `gzip -t` and `zstd -t` (and so `tar -xzf` and
 * `tar --zstd -xf`) fail on a corrupt trailer or appended bytes; the reader
 * must too, for a path and for a Readable alike, and not only through the
 * SHA-256 of the stored file.
 */
const dir = tempDir('bk-trailer-');

/** A plain tar dataset of about 1.5 MiB. */
async function plainTar(): Promise<Buffer> {
  const path = join(dir, `plain-${randomBytes(4).toString('hex')}.tar`);
  const records = Array.from({ length: 20_000 }, (_, i) => ({ _id: i, v: randomBytes(24).toString('hex') }));
  (await writeDataset(path, { compression: 'none', members: { 'a.ndjson': records }, mtime: 0 }))._unsafeUnwrap();
  return readFileSync(path);
}

/** How both inputs end: `OK`, or the error code. */
async function outcomes(bytes: Buffer, name: string): Promise<{ file: string; stream: string }> {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const viaFile = await readDataset(path).scan();
  const viaStream = await readDataset(createReadStream(path)).scan();
  return {
    file: viaFile.isOk() ? 'OK' : viaFile.error.code,
    stream: viaStream.isOk() ? 'OK' : viaStream.error.code,
  };
}

/** Exit status of `tool -t` on the bytes (the oracle). */
function oracle(tool: 'gzip' | 'zstd', bytes: Buffer): number | null {
  return spawnSync(tool, ['-t', '-q'], { input: bytes, stdio: ['pipe', 'ignore', 'ignore'] }).status;
}

const zstd = (bytes: Buffer): Buffer => zstdCompressSync(bytes, { params: { [constants.ZSTD_c_checksumFlag]: 1 } });

describe('the compressed stream is checked to its end, past the end of the archive', () => {
  it('bytes appended after a zstd stream are refused', async () => {
    const good = zstd(await plainTar());
    const bad = Buffer.concat([good, Buffer.from('appended after the last frame\n')]);
    expect(oracle('zstd', good)).toBe(0);
    expect(oracle('zstd', bad)).not.toBe(0);
    expect(await outcomes(good, 'good.tar.zst')).toEqual({ file: 'OK', stream: 'OK' });
    expect(await outcomes(bad, 'appended.tar.zst')).toEqual({ file: 'COMPRESSION_CORRUPT', stream: 'COMPRESSION_CORRUPT' });
  });

  it('a gzip stream cut in its trailer is refused from a Readable as from a path', async () => {
    const good = gzipSync(await plainTar());
    const cut = good.subarray(0, good.length - 4);
    expect(oracle('gzip', cut)).not.toBe(0);
    expect(await outcomes(cut, 'cut.tar.gz')).toEqual({ file: 'COMPRESSION_TRUNCATED', stream: 'COMPRESSION_TRUNCATED' });
  });

  it.for([
    ['a zero byte and then junk', Buffer.concat([Buffer.alloc(1), Buffer.from('appended after a zero byte\n')])],
    ['zero padding and then a second gzip member', Buffer.concat([Buffer.alloc(4), gzipSync(Buffer.alloc(1024))])],
  ] as const)('bytes after a gzip stream behind %s are refused (node:zlib stops at the zero)', async ([, trailer], { expect }) => {
    const good = gzipSync(await plainTar());
    const bad = Buffer.concat([good, trailer]);
    // gzip -t warns "trailing garbage ignored" and exits 2; tar -xzf fails.
    expect(oracle('gzip', bad)).toBe(2);
    expect(await outcomes(bad, `trailer-${bad.length}.tar.gz`)).toEqual({ file: 'COMPRESSION_CORRUPT', stream: 'COMPRESSION_CORRUPT' });
  });

  it('zero padding after the last gzip member is read, as gzip -t reads it', async () => {
    const padded = Buffer.concat([gzipSync(await plainTar()), Buffer.alloc(10240 - 7)]);
    expect(oracle('gzip', padded)).toBe(0);
    expect(await outcomes(padded, 'padded.tar.gz')).toEqual({ file: 'OK', stream: 'OK' });
  });

  it('a corrupt checksum after decoded bytes that follow the end of the archive is refused', async () => {
    // Data after the end-of-archive block (GNU tar ignores it) pushes the trailer far past the end of the tar.
    const tarred = Buffer.concat([await plainTar(), randomBytes(3 * 1024 * 1024)]);
    const gz = gzipSync(tarred);
    const zs = zstd(tarred);
    expect(await outcomes(gz, 'after.tar.gz')).toEqual({ file: 'OK', stream: 'OK' });
    expect(await outcomes(zs, 'after.tar.zst')).toEqual({ file: 'OK', stream: 'OK' });
    gz[gz.length - 8]! ^= 0xff; // the CRC-32
    zs[zs.length - 1]! ^= 0xff; // the frame's content checksum
    expect(oracle('gzip', gz)).not.toBe(0);
    expect(oracle('zstd', zs)).not.toBe(0);
    expect(await outcomes(gz, 'crc.tar.gz')).toEqual({ file: 'COMPRESSION_CORRUPT', stream: 'COMPRESSION_CORRUPT' });
    expect(await outcomes(zs, 'checksum.tar.zst')).toEqual({ file: 'COMPRESSION_CORRUPT', stream: 'COMPRESSION_CORRUPT' });
  });

  it('a decompression bomb after the end of the archive still meets the limits', async () => {
    const bomb = zstd(Buffer.concat([await plainTar(), Buffer.alloc(80 * 1024 * 1024)]));
    const path = join(dir, 'bomb.tar.zst');
    writeFileSync(path, bomb);
    const read = await readDataset(path, { maxDecompressedBytes: 8 * 1024 * 1024 }).scan();
    expect(read._unsafeUnwrapErr().code).toBe('SIZE_LIMIT_EXCEEDED');
    const streamed = await readDataset(createReadStream(path), { maxDecompressedBytes: 8 * 1024 * 1024 }).scan();
    expect(streamed._unsafeUnwrapErr().code).toBe('SIZE_LIMIT_EXCEEDED');
  });

  it('bytes appended after a plain tar are still ignored, as GNU tar ignores them', async () => {
    const bytes = Buffer.concat([await plainTar(), Buffer.from('appended after the archive\n')]);
    expect(await outcomes(bytes, 'appended.tar')).toEqual({ file: 'OK', stream: 'OK' });
  });
});
