import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HashPool } from '../../../src/index-backfill/hash-pool.js';
import { needTools, run } from '../../support/tmp.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-hash-pool-'));
const sha256sumTool = needTools('sha256sum');
const mkfifoTool = needTools('mkfifo');

function file(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.from(Array.from({ length: size }, (_, i) => (i * 2654435761 + size) >>> 24)));
  return path;
}

describe('HashPool', () => {
  it.skipIf(sha256sumTool.missing)(
    sha256sumTool.title('hashes many files at once, each across several reads, as sha256sum does'),
    async () => {
      // Reads of 1000 bytes, so most files take several; sizes around the read size.
      const pool = new HashPool(1000, 2);
      const paths = [0, 1, 999, 1000, 1001, 54_321, 250_000].map((size, i) => file(`f${i}.bin`, size));
      const digests = await Promise.all(paths.map((p) => pool.hash(p)));
      await pool.close();
      expect(digests.map((d) => d.sha256)).toEqual(paths.map((p) => run('sha256sum', [p]).split(' ')[0]));
      expect(digests.map((d) => d.size)).toEqual([0, 1, 999, 1000, 1001, 54_321, 250_000]);
    },
  );

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

  it('keeps its process alive while it has work, and lets it exit when idle even without close()', () => {
    // Exit 13 would mean the process ended with a hash pending; a timeout, that idle workers held it.
    const target = file('alive.bin', 5000);
    const script = `import { HashPool } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/index-backfill/hash-pool.ts')).href)};
const pool = new HashPool(1024);
console.log((await pool.hash(${JSON.stringify(target)})).size);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect({ status: r.status, signal: r.signal, stdout: r.stdout.trim() }).toEqual({ status: 0, signal: null, stdout: '5000' });
  });

  it('abort() rejects what is still queued; close() refuses more', async () => {
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

  it('rejects every job with IO_ERROR and closes when its workers die', async () => {
    // Each worker allocates its read buffer as it starts: one too large for a Buffer kills it.
    const pool = new HashPool(2 ** 53, 2);
    const outcomes = await Promise.allSettled([pool.hash(file('d1.bin', 10)), pool.hash(file('d2.bin', 10))]);
    for (const outcome of outcomes)
      expect(outcome).toMatchObject({
        status: 'rejected',
        reason: { code: 'IO_ERROR', message: expect.stringContaining('a hashing worker failed') },
      });
    await expect(pool.hash(file('d3.bin', 10))).rejects.toMatchObject({ code: 'ABORTED' });
    await pool.close();
  });

  it('refuses a symbolic link with noFollow, and follows it otherwise', async () => {
    const target = file('target.bin', 100);
    const link = join(dir, 'link.bin');
    symlinkSync(target, link);
    const pool = new HashPool(4096, 1);
    const refused = await pool.hash(link, { noFollow: true }).catch((e: unknown) => e);
    const followed = await pool.hash(link);
    const direct = await pool.hash(target, { noFollow: true });
    await pool.close();
    expect(refused).toMatchObject({ code: 'IO_ERROR', cause: { code: 'ELOOP' } });
    expect(followed).toEqual(direct);
  });

  /**
   * A FIFO holds a worker inside a file for as long as the test wants:
   * `outcome` settles with the digest or the error; `release()` wakes the
   * worker's blocked read with one more write and ends the file.
   */
  async function workerInsideFifo(
    name: string,
    workers: number,
  ): Promise<{ pool: HashPool; outcome: Promise<unknown>; release: () => Promise<void> }> {
    const fifo = join(dir, name);
    run('mkfifo', [fifo]);
    const pool = new HashPool(1024, workers);
    const outcome = pool.hash(fifo).then(
      (digest) => digest,
      (error: unknown) => error,
    );
    const writer = await open(fifo, 'w');
    // More than a pipe holds, so this returns only once the worker is reading.
    await writer.write(Buffer.alloc(256 * 1024));
    const release = async (): Promise<void> => {
      await writer.write(Buffer.alloc(1024)).catch(() => undefined);
      await writer.close();
    };
    return { pool, outcome, release };
  }

  it.skipIf(mkfifoTool.missing)(mkfifoTool.title('abort() stops a file that is being read, at its next read'), async () => {
    const { pool, outcome, release } = await workerInsideFifo('slow.fifo', 1);
    pool.abort();
    // Without the abort the worker would read on to EOF and resolve.
    await release();
    expect(await outcome).toMatchObject({ code: 'ABORTED' });
    await pool.close();
  });

  it.skipIf(mkfifoTool.missing)(
    mkfifoTool.title('close() rejects a file still being read at once, and returns when its worker has ended'),
    async () => {
      const { pool, outcome, release } = await workerInsideFifo('closing.fifo', 2);
      const closing = pool.close();
      // The worker is blocked reading the FIFO and can't answer; close() must not wait for it.
      expect(await outcome).toMatchObject({ code: 'ABORTED' });
      await release();
      await closing;
    },
  );
});
