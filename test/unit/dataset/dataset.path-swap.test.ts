/**
 * A path is checked (a regular file, its format sniffed) on the main thread,
 * and was then opened again by name on the decode thread: a file renamed
 * over the path in between (or a FIFO put there) was what the reader read,
 * hashed and handed out, and a FIFO left it waiting for a writer for ever.
 * The decode thread now reads the very file the main thread opened.
 *
 * The swap is made deterministic by test/support/path-swap.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { swapAfterOpen, swapped } from '../../support/path-swap.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('mkfifo');
const dir = tempDir('bk-path-swap-');
const { readDataset, writeDataset } = await import('../../../src/dataset/index.js');

/** Settles with the result, or 'hung' after five seconds. */
function within<T>(work: Promise<T>): Promise<T | 'hung'> {
  return Promise.race([work, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref())]);
}

describe.skipIf(tools.missing)('readDataset reads the file it checked, not whatever the path names later', () => {
  it(tools.title('a dataset renamed over the path, or a FIFO, after the reader opened it changes nothing'), async () => {
    const file = join(dir, 'ds.tar.zst');
    const other = join(dir, 'other.tar.zst');
    for (const replacement of ['dataset', 'fifo'] as const) {
      (await writeDataset(file, { members: { 'a.ndjson': [{ _id: 'original' }] } }))._unsafeUnwrap();
      const original = createHash('sha256').update(readFileSync(file)).digest('hex');
      if (replacement === 'dataset') (await writeDataset(other, { members: { 'b.ndjson': [{ _id: 'swapped' }] } }))._unsafeUnwrap();
      else run('mkfifo', [other]);
      swapAfterOpen(file, other);
      const lines: string[] = [];
      const read = (async () => {
        const ds = readDataset(file);
        for await (const member of ds) for await (const { raw } of member.lines()) lines.push(`${member.name}: ${raw}`);
        return await ds.stats();
      })();
      const stats = await within(read);
      expect(swapped()).toBe(true);
      expect(stats).not.toBe('hung');
      if (stats === 'hung') return;
      expect(stats.isOk() && stats.value.sha256).toBe(original);
      expect(lines).toContain('a.ndjson: {"_id":"original"}');
      expect(lines.join('\n')).not.toMatch(/swapped/);
      rmSync(file);
    }
  });
});
