import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HashPool } from '../../../src/index-backfill/hash-pool.js';
import { needTools, run } from '../../support/tmp.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-hash-pool-'));
const sha256sumTool = needTools('sha256sum');

/** Hashes the file at `path` through a descriptor opened here, closed once the pool answers. */
async function hashPath(pool: HashPool, path: string) {
  const fd = openSync(path, 'r');
  try {
    return await pool.hash(fd, path);
  } finally {
    closeSync(fd);
  }
}

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
      const digests = await Promise.all(paths.map((p) => hashPath(pool, p)));
      await pool.close();
      expect(digests.map((d) => d.sha256)).toEqual(paths.map((p) => run('sha256sum', [p]).split(' ')[0]));
      expect(digests.map((d) => d.size)).toEqual([0, 1, 999, 1000, 1001, 54_321, 250_000]);
    },
  );

  it('rejects a descriptor that is not open, or a directory, with IO_ERROR naming the path, and keeps serving', async () => {
    const pool = new HashPool(4096, 1);
    // A number no file is open under (a closed one may be taken again by then).
    const bad = await pool.hash(1_000_000, join(dir, 'closed.bin')).catch((e: unknown) => e);
    const directory = await hashPath(pool, dir).catch((e: unknown) => e);
    const fine = await hashPath(pool, file('fine.bin', 10));
    await pool.close();
    expect(bad).toMatchObject({ code: 'IO_ERROR', context: { path: join(dir, 'closed.bin') } });
    expect((bad as { cause?: { code?: string } }).cause?.code).toBe('EBADF');
    expect(directory).toMatchObject({ code: 'IO_ERROR', cause: { code: 'EISDIR' } });
    expect(fine.size).toBe(10);
  });

  it('reads at explicit offsets: a descriptor whose offset was moved is still hashed whole, and its offset is left alone', async () => {
    const path = file('offset.bin', 5000);
    const fd = openSync(path, 'r');
    readSync(fd, Buffer.alloc(1234), 0, 1234, null);
    const pool = new HashPool(1000, 1);
    const digest = await pool.hash(fd, path);
    await pool.close();
    const rest = Buffer.alloc(5000);
    const n = readSync(fd, rest, 0, 5000, null);
    closeSync(fd);
    expect(digest.size).toBe(5000);
    expect(n).toBe(5000 - 1234);
  });

  it('keeps its process alive while it has work, and lets it exit when idle even without close()', () => {
    // Exit 13 would mean the process ended with a hash pending; a timeout, that idle workers held it.
    const target = file('alive.bin', 5000);
    const script = `import { openSync } from 'node:fs';
import { HashPool } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/index-backfill/hash-pool.ts')).href)};
const pool = new HashPool(1024);
console.log((await pool.hash(openSync(${JSON.stringify(target)}, 'r'), 'alive.bin')).size);`;
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
    const running = hashPath(pool, big);
    const queued = hashPath(pool, file('queued.bin', 10));
    pool.abort();
    const [first, second] = await Promise.allSettled([running, queued]);
    expect(first).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'ABORTED' } });
    await pool.close();
    await expect(hashPath(pool, big)).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('rejects every job with IO_ERROR and closes when its workers die', async () => {
    // Each worker allocates its read buffer as it starts: one too large for a Buffer kills it.
    const pool = new HashPool(2 ** 53, 2);
    const outcomes = await Promise.allSettled([hashPath(pool, file('d1.bin', 10)), hashPath(pool, file('d2.bin', 10))]);
    for (const outcome of outcomes)
      expect(outcome).toMatchObject({
        status: 'rejected',
        reason: { code: 'IO_ERROR', message: expect.stringContaining('a hashing worker failed') },
      });
    await expect(hashPath(pool, file('d3.bin', 10))).rejects.toMatchObject({ code: 'ABORTED' });
    await pool.close();
  });

  /**
   * /dev/zero holds a worker inside a file for as long as the test wants: it
   * never ends. A small file hashed first proves the worker is up, so the
   * next job goes to it at once rather than waiting in the queue.
   */
  async function workerInsideEndlessFile(workers: number): Promise<{ pool: HashPool; outcome: Promise<unknown>; done: () => void }> {
    const pool = new HashPool(1024, workers);
    await hashPath(pool, file('warm.bin', 10));
    const fd = openSync('/dev/zero', 'r');
    const outcome = pool.hash(fd, '/dev/zero').then(
      (digest) => digest,
      (error: unknown) => error,
    );
    return { pool, outcome, done: () => closeSync(fd) };
  }

  it('abort() stops a file that is being read, at its next read', async () => {
    const { pool, outcome, done } = await workerInsideEndlessFile(1);
    pool.abort();
    // Without the abort the worker would read for ever.
    expect(await outcome).toMatchObject({ code: 'ABORTED' });
    await pool.close();
    done();
  });

  it('close() rejects a file still being read at once, and returns when its worker has ended', async () => {
    const { pool, outcome, done } = await workerInsideEndlessFile(2);
    const closing = pool.close();
    expect(await outcome).toMatchObject({ code: 'ABORTED' });
    await closing;
    done();
  });
});
