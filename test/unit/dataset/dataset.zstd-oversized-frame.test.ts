/**
 * A zstd frame that declares a small content size (so the reader decodes it
 * in one call, once all its compressed bytes are in) but goes on for far
 * more compressed bytes than any encoder writes for that size. The reader
 * held every byte of it before zstd refused it at the end: a 256 MiB file
 * took 600 MiB of memory, and a file larger than memory would crash the
 * process. It is refused once past the bound, as `zstd -t` refuses it at
 * once.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('zstd');
const dir = tempDir('bk-zstd-oversized-');
const MiB = 1024 * 1024;

/** A frame declaring 100 bytes of content, followed by `blocks` raw blocks of 128 KiB. */
function oversizedFrame(file: string, blocks: number): void {
  const fd = openSync(file, 'w');
  // Magic; frame header: single segment, a one-byte content size of 100.
  writeSync(fd, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 100]));
  const size = 128 * 1024 - 1;
  const block = Buffer.alloc(3 + size);
  block.writeUIntLE(size << 3, 0, 3); // a raw block, not the last
  for (let i = 0; i < blocks; i++) writeSync(fd, block);
  const last = Buffer.alloc(3 + 100, 0x20);
  last.writeUIntLE((100 << 3) | 1, 0, 3);
  writeSync(fd, last);
  closeSync(fd);
}

describe.skipIf(tools.missing)('zstd: a frame far larger than its declared content size', () => {
  it(tools.title('is COMPRESSION_CORRUPT near its start, from a path and from a stream'), async () => {
    const file = join(dir, 'oversized.tar.zst');
    oversizedFrame(file, 512); // 64 MiB
    expect(spawnSync('zstd', ['-t', file]).status).not.toBe(0);
    for (const input of [() => file, () => createReadStream(file)]) {
      const r = await readDataset(input()).scan();
      expect(r.isErr() && r.error.code).toBe('COMPRESSION_CORRUPT');
      expect(r.isErr() && r.error.message).toMatch(/more compressed bytes than its declared content size \(100 bytes\) allows/);
      // Refused after reading a few pieces, not the whole 64 MiB.
      expect(r.isErr() && (r.error.context as { offset: number }).offset).toBeLessThan(8 * MiB);
    }
  }, 60_000);
});
