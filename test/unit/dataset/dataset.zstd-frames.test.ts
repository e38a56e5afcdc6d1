import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { ZstdDecompress, ownsBuffer } from '../../../src/_internals/zstd-frames.js';
import { BackfillError } from '../../../src/errors.js';
import { run, sh, tempDir } from '../../support/tmp.js';

// The decoder runs two frames at once and hands their output on in order;
// the zstd CLI is the oracle for what the bytes must be.
const dir = tempDir('bk-zstd-frames-');
const MIB = 1024 * 1024;

/** A tar of one NDJSON member of about 12 MiB, and the same tar as zstd frames made apart by the CLI. */
function framedTar(): { tar: Buffer; zst: Buffer; frameEnds: number[] } {
  const lines: string[] = [];
  for (let i = 0, bytes = 0; bytes < 12 * MIB; i++) {
    const line = `{"id":${i},"digest":"${createHash('sha256').update(String(i)).digest('hex')}"}\n`;
    lines.push(line);
    bytes += line.length;
  }
  writeFileSync(join(dir, 'records.ndjson'), lines.join(''));
  sh(`tar -C '${dir}' -cf '${dir}/all.tar' records.ndjson && cd '${dir}' && split -b 5M all.tar part.`);
  // Frames of 5 MiB (more than a frame may hold while it waits), 5 MiB and
  // the rest, with an empty frame and a skippable frame between them.
  const frame = (file: string): Buffer => Buffer.from(run('bash', ['-c', `zstd -q -c < '${file}' | base64 -w0`]), 'base64');
  const skippable = Buffer.alloc(16);
  skippable.writeUInt32LE(0x184d2a5e, 0);
  skippable.writeUInt32LE(8, 4);
  const pieces = [frame(join(dir, 'part.aa')), frame('/dev/null'), frame(join(dir, 'part.ab')), skippable, frame(join(dir, 'part.ac'))];
  const frameEnds: number[] = [];
  let end = 0;
  for (const piece of pieces) {
    end += piece.length;
    frameEnds.push(end);
  }
  return { tar: readFileSync(join(dir, 'all.tar')), zst: Buffer.concat(pieces), frameEnds };
}

const { tar, zst, frameEnds } = framedTar();

/** Decodes `input` in 64 KiB writes, reading slowly; returns what came out (and its chunks) and the error, if any. */
async function decode(input: Buffer): Promise<{ out: Buffer; parts: Buffer[]; error?: Error & { code?: string } }> {
  const decoder = new ZstdDecompress();
  const parts: Buffer[] = [];
  const source = Readable.from(
    (function* () {
      for (let at = 0; at < input.length; at += 64 * 1024) yield input.subarray(at, at + 64 * 1024);
    })(),
  );
  source.pipe(decoder);
  // 'data' events, as the decode thread reads it (an async iterator may join buffered chunks on Node 22).
  decoder.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    decoder.pause(); // a slow reader: frames behind the first must wait, in order
    void turn().then(() => decoder.resume());
  });
  try {
    await once(decoder, 'end');
    return { out: Buffer.concat(parts), parts };
  } catch (error) {
    return { out: Buffer.concat(parts), parts, error: error as Error };
  }
}

describe('ZstdDecompress over many frames', () => {
  it('gives the bytes zstd -dc gives, in order, across empty and skippable frames', async () => {
    writeFileSync(join(dir, 'framed.tar.zst'), zst);
    expect(Number(/Zstandard Frames: (\d+)/.exec(run('zstd', ['-lv', join(dir, 'framed.tar.zst')]))?.[1])).toBe(4);
    const oracle = Buffer.from(run('bash', ['-c', `zstd -dc '${dir}/framed.tar.zst' | base64 -w0`]), 'base64');
    expect(oracle.equals(tar)).toBe(true);
    const { out, error } = await decode(zst);
    expect(error).toBeUndefined();
    expect(out.length).toBe(tar.length);
    expect(out.equals(tar)).toBe(true);
  });

  it('reports each written chunk once its bytes are decoded, so a writer may reuse it (overwriting it then changes nothing)', async () => {
    const written: Buffer[] = [];
    const done = new Set<Buffer>();
    const decoder = new ZstdDecompress({
      onInputDone: (chunk) => {
        expect(done.has(chunk)).toBe(false);
        done.add(chunk);
        chunk.fill(0xff); // what a writer reusing its buffer does
      },
    });
    const parts: Buffer[] = [];
    const reading = (async () => {
      for await (const chunk of decoder) {
        parts.push(chunk as Buffer);
        await turn();
      }
    })();
    for (let at = 0; at < zst.length; at += 50_000) {
      const copy = Buffer.from(zst.subarray(at, at + 50_000));
      written.push(copy);
      if (!decoder.write(copy)) await once(decoder, 'drain'); // rejects if decoding fails
    }
    decoder.end();
    await reading;
    expect(Buffer.concat(parts).equals(tar)).toBe(true);
    expect(written.every((chunk) => done.has(chunk))).toBe(true);
  });

  it('a frame cut short: every whole frame before it comes out, then ZSTD_TRUNCATED', async () => {
    const cut = zst.subarray(0, frameEnds[2]! + 100); // inside the last frame
    const { out, error } = await decode(cut);
    expect(error?.code).toBe('ZSTD_TRUNCATED');
    expect(out.length).toBeGreaterThanOrEqual(10 * MIB);
    expect(out.equals(tar.subarray(0, out.length))).toBe(true);
  });

  it('a corrupt frame after good ones: an error, and nothing out of order before it', async () => {
    const bad = Buffer.from(zst);
    const middle = Math.floor((frameEnds[1]! + frameEnds[2]!) / 2); // inside the second 5 MiB frame
    for (let i = 0; i < 64; i++) bad[middle + i]! ^= 0x5a;
    const { out, error } = await decode(bad);
    expect(error).toBeInstanceOf(Error);
    expect(out.length).toBeLessThan(tar.length);
    expect(out.equals(tar.subarray(0, out.length))).toBe(true);
  });

  it('decodes a frame that declares its size in one piece of that size, and streams the others, in order', async () => {
    // `zstd -c FILE` writes the content size into the frame header; from a pipe it cannot.
    const sized = (file: string): Buffer => Buffer.from(run('bash', ['-c', `zstd -q -c '${file}' | base64 -w0`]), 'base64');
    const unsized = (file: string): Buffer => Buffer.from(run('bash', ['-c', `cat '${file}' | zstd -q -c | base64 -w0`]), 'base64');
    const a = sized(join(dir, 'part.aa'));
    const mixed = Buffer.concat([a, unsized(join(dir, 'part.ab')), sized(join(dir, 'part.ac'))]);
    const { out, parts, error } = await decode(mixed);
    expect(error).toBeUndefined();
    expect(out.equals(tar)).toBe(true);
    const whole = parts.filter((part) => ownsBuffer(part)).map((part) => part.length);
    expect(whole).toEqual([5 * MIB, tar.length - 10 * MIB]);
    expect(parts.length).toBeGreaterThan(whole.length + 1); // the unsized frame came out in chunks

    // A corrupt sized frame: an error, and only whole frames before it.
    const bad = Buffer.from(mixed);
    for (let i = 0; i < 64; i++) bad[Math.floor(a.length / 2) + i]! ^= 0x5a;
    const broken = await decode(bad);
    expect(broken.error).toBeInstanceOf(Error);
    expect(broken.out.length).toBe(0);
    const cut = await decode(mixed.subarray(0, mixed.length - 100));
    expect(cut.error?.code).toBe('ZSTD_TRUNCATED');
    expect(cut.out.equals(tar.subarray(0, 10 * MIB))).toBe(true);
  });

  it('refuses a frame whose header declares more or fewer bytes than it holds, handing nothing of it out', async () => {
    const zlib = await import('node:zlib');
    const data = Buffer.from(createHash('sha512').update('x').digest('hex').repeat(2000)); // 256,000 bytes
    const frame = zlib.zstdCompressSync(data);
    const descriptor = frame[4]!;
    expect(descriptor >> 6).toBe(2); // a 4-byte content size field
    // The size field follows the descriptor, the window byte (absent for a single segment) and the dictionary id.
    const at = 5 + ((descriptor >> 5) & 1 ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]!;
    expect(frame.readUInt32LE(at)).toBe(data.length);
    for (const declared of [data.length - 1000, data.length + 1000, 1 << 22]) {
      const lying = Buffer.from(frame);
      lying.writeUInt32LE(declared, at);
      const { out, error } = await decode(lying);
      expect(error, `declared ${declared}`).toBeInstanceOf(Error);
      expect(out.length).toBe(0);
    }
  });

  it('reads frame headers cut anywhere: sized frames of every header form, an unsized one and an empty one, in writes of 1 to 13 bytes', async () => {
    const zlib = await import('node:zlib');
    // One-shot compression records the size: 2-byte (+256), 4-byte and 1-byte (single-segment) size fields.
    const datas = [Buffer.alloc(300, 'a'), Buffer.alloc(300_000, 'hello '), Buffer.alloc(100, 'q'), Buffer.alloc(0)];
    const unsized = zlib.createZstdCompress();
    const streamed = new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      unsized.on('data', (part: Buffer) => parts.push(part)).on('end', () => resolve(Buffer.concat(parts)));
    });
    unsized.end(Buffer.alloc(70_000, 'xyz'));
    const frames = [...datas.map((data) => zlib.zstdCompressSync(data)), await streamed];
    expect(frames[4]![4]! >> 6).toBe(0); // the streamed frame declares no size
    const want = Buffer.concat([...datas, Buffer.alloc(70_000, 'xyz')]);
    for (const step of [1, 2, 3, 5, 13]) {
      const decoder = new ZstdDecompress();
      const parts: Buffer[] = [];
      // 'data' events, as the decode thread reads it (an async iterator may join buffered chunks on Node 22).
      decoder.on('data', (chunk: Buffer) => parts.push(chunk));
      const reading = once(decoder, 'end');
      const all = Buffer.concat(frames);
      for (let at = 0; at < all.length; at += step) {
        if (!decoder.write(Buffer.from(all.subarray(at, at + step)))) await once(decoder, 'drain');
      }
      decoder.end();
      await reading;
      expect(Buffer.concat(parts).equals(want)).toBe(true);
      expect(parts.filter((part) => ownsBuffer(part)).map((part) => part.length)).toEqual([300, 300_000, 100]);
    }
  });

  it('readDataset reads the many-frame file, and refuses its broken forms with coded errors, from a path and a stream', async () => {
    const good = join(dir, 'good.tar.zst');
    const cut = join(dir, 'cut.tar.zst');
    const flipped = join(dir, 'flipped.tar.zst');
    writeFileSync(good, zst);
    writeFileSync(cut, zst.subarray(0, frameEnds[2]! + 100));
    const bad = Buffer.from(zst);
    for (let i = 0; i < 64; i++) bad[Math.floor((frameEnds[1]! + frameEnds[2]!) / 2) + i]! ^= 0x5a;
    writeFileSync(flipped, bad);
    const expectedLines = readFileSync(join(dir, 'records.ndjson'), 'utf8').split('\n').length - 1;
    const outcome = async (input: string | Readable): Promise<number | string> => {
      let n = 0;
      try {
        for await (const member of readDataset(input)) for await (const batch of member.lineBatches()) n += batch.length;
        return n;
      } catch (e) {
        expect(e).toBeInstanceOf(BackfillError);
        return (e as BackfillError).code;
      }
    };
    for (const open of [(f: string) => f, (f: string) => createReadStream(f)]) {
      expect(await outcome(open(good))).toBe(expectedLines);
      expect(await outcome(open(cut))).toBe('COMPRESSION_TRUNCATED');
      expect(await outcome(open(flipped))).toBe('COMPRESSION_CORRUPT');
    }
  });
});
