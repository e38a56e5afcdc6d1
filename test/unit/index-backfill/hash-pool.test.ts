import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashPool } from '../../../src/index-backfill/hash-pool.js';
import { needTools, run } from '../../support/tmp.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-hash-pool-'));
const sha256sumTool = needTools('sha256sum');

function file(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.from(Array.from({ length: size }, (_, i) => (i * 2654435761 + size) >>> 24)));
  return path;
}

describe('HashPool', () => {
  it.skipIf(sha256sumTool.missing)(sha256sumTool.title('hashes many files at once, each across several reads, as sha256sum does'), async () => {
    // Reads of 1000 bytes, so most files take several; sizes around the read size.
    const pool = new HashPool(1000, 2);
    const paths = [0, 1, 999, 1000, 1001, 54_321, 250_000].map((size, i) => file(`f${i}.bin`, size));
    const digests = await Promise.all(paths.map((p) => pool.hash(p)));
    await pool.close();
    expect(digests.map((d) => d.sha256)).toEqual(paths.map((p) => run('sha256sum', [p]).split(' ')[0]));
    expect(digests.map((d) => d.size)).toEqual([0, 1, 999, 1000, 1001, 54_321, 250_000]);
  });

  it('rejects a missing file or a directory with IO_ERROR and keeps serving', async () => {
    const pool = new HashPool(4096, 1);
    const missing = await pool.hash(join(dir, 'nope.bin')).catch((e: unknown) => e);
    const directory = await pool.hash(dir).catch((e: unknown) => e);
    const fine = await pool.hash(file('fine.bin', 10));
    await pool.close();
    expect(missing).toMatchObject({ code: 'IO_ERROR', context: { path: join(dir, 'nope.bin') } });
    expect((missing as { cause?: { code?: string } }).cause?.code).toBe('ENOENT');
    expect(directory).toMatchObject({ code: 'IO_ERROR' });
    expect(fine.size).toBe(10);
  });

  it('abort() rejects what is queued and stops the running file at its next read; close() refuses more', async () => {
    const pool = new HashPool(1024, 1);
    const big = file('big.bin', 4_000_000); // ~4,000 reads
    const running = pool.hash(big);
    const queued = pool.hash(file('queued.bin', 10));
    pool.abort();
    const [first, second] = await Promise.allSettled([running, queued]);
    expect(first).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    await pool.close();
    await expect(pool.hash(big)).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
