import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ZstdFrameCompress } from '../../../src/_internals/zstd-frame-compress.js';
import { hasTool, run, tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-zstd-frames-');
const hasZstd = hasTool('zstd');

/** Text that compresses like NDJSON: repeated keys, random values. */
function ndjson(lines: number): Buffer {
  return Buffer.from(
    Array.from(
      { length: lines },
      (_, i) => `{"_id":"r-${i}","v":"${randomBytes(12).toString('hex')}","pad":"${'x'.repeat(i % 40)}"}\n`,
    ).join(''),
  );
}

/** Compresses `data` cut into `piece`-byte writes, pausing a tick after every `pauseEvery` of them. */
async function compress(data: Buffer, frameBytes: number, piece: number, pauseEvery: number): Promise<Buffer> {
  async function* pieces(): AsyncGenerator<Buffer> {
    for (let at = 0, n = 1; at < data.length; at += piece, n++) {
      yield data.subarray(at, at + piece);
      if (pauseEvery > 0 && n % pauseEvery === 0) await sleep(1);
    }
  }
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces()), new ZstdFrameCompress(3, frameBytes), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

describe('ZstdFrameCompress', () => {
  const data = ndjson(3000);

  it('gives the same bytes however the input is cut and timed', async () => {
    const outputs = await Promise.all([
      compress(data, 64 * 1024, data.length, 0),
      compress(data, 64 * 1024, 512, 0),
      compress(data, 64 * 1024, 512, 1),
      compress(data, 64 * 1024, 7, 50),
      compress(data, 64 * 1024, 100_000, 1),
    ]);
    for (const out of outputs.slice(1)) expect(out.equals(outputs[0]!)).toBe(true);
  });

  it.skipIf(!hasZstd)('writes frames of the set size that the zstd CLI decodes to the input (skipped without the zstd CLI)', async () => {
    const file = join(dir, 'frames.zst');
    writeFileSync(file, await compress(data, 64 * 1024, 1000, 0));
    expect(run('zstd', ['-dc', file])).toBe(data.toString());
    const listing = run('zstd', ['-lv', file]);
    expect(Number(/Zstandard Frames: (\d+)/.exec(listing)?.[1])).toBe(Math.ceil(data.length / (64 * 1024)));
    // Every frame declares its content size (a reader decodes it in one call): the CLI can total them.
    expect(Number(/Decompressed Size: .*\((\d+) B\)/.exec(listing)?.[1])).toBe(data.length);
  });

  it.skipIf(!hasZstd)('writes one valid empty frame for no input (skipped without the zstd CLI)', async () => {
    const file = join(dir, 'empty.zst');
    writeFileSync(file, await compress(Buffer.alloc(0), 1024, 1, 0));
    expect(readFileSync(file).length).toBeGreaterThan(0);
    expect(run('zstd', ['-dc', file])).toBe('');
  });
});
