import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { HashingPassThrough } from '../../../src/_internals/hashing-stream.js';
import { run, tempDir } from '../../support/tmp.js';

describe('HashingPassThrough', () => {
  it('passes bytes through unchanged and agrees with sha256sum', async () => {
    const dir = tempDir();
    const file = join(dir, 'data.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 7, 0);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 9)) & 0xff;
    writeFileSync(file, data);
    const hasher = new HashingPassThrough();
    const out: Buffer[] = [];
    await pipeline(
      createReadStream(file, { highWaterMark: 65536 }),
      hasher,
      new Writable({
        write(c, _e, cb) {
          out.push(c);
          cb();
        },
      }),
    );
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(hasher.bytes).toBe(data.length);
    expect(hasher.digest()).toBe(run('sha256sum', [file]).split(' ')[0]);
  });
});
