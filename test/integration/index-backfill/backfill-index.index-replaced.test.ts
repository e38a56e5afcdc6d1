/**
 * The index replaced (rotated: renamed and created anew) or truncated by an
 * operator while a backfill runs. The run kept appending to the file it had
 * open, so its rows went to the renamed file and the report still said they
 * were backfilled into the index; after a truncation it went on skipping
 * episodes whose rows were gone.
 */
import { existsSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { smallTree } from './episode-tree.js';

const tree = (prefix: string) => smallTree(prefix, ['e1', 'e2', 'e3'], '{"episode_id": "old", "host_id": "h"}\n');

const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter(Boolean);

describe('backfillIndex when the index is replaced or truncated during the run', () => {
  it('stops at the next row when the index path names another file, and says where the rows went', async () => {
    const { root, index } = await tree('index-rotated');
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 1,
      onProgress: (p) => {
        if (p.done === 1) {
          renameSync(index, `${index}.1`);
          writeFileSync(index, '');
        }
      },
    });
    expect(result.isErr() && result.error.code).toBe('IO_ERROR');
    expect(result.isErr() && result.error.message).toContain('replaced');
    expect(result.isErr() && result.error.partial?.appended).toBe(1);
    expect(lines(`${index}.1`)).toHaveLength(2);
    expect(lines(index)).toEqual([]);
  });

  it('stops at the next row when the index shrank below what it held', async () => {
    const { root, index } = await tree('index-truncated');
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 1,
      onProgress: (p) => {
        if (p.done === 1) truncateSync(index, 0);
      },
    });
    expect(result.isErr() && result.error.code).toBe('IO_ERROR');
    expect(result.isErr() && result.error.message).toContain('truncated');
    expect(lines(index)).toEqual([]);
  });

  // Before the first row the run has no file open yet: it opened the path anew, and so appended to (or created) a file
  // that was not the index it had read, with no error.
  it.for([
    {
      change: 'rotated',
      expected: 'replaced',
      act: (index: string) => {
        renameSync(index, `${index}.1`);
        writeFileSync(index, '');
      },
    },
    { change: 'removed', expected: 'replaced or removed', act: (index: string) => rmSync(index) },
    { change: 'truncated', expected: 'truncated', act: (index: string) => truncateSync(index, 0) },
  ])('stops before the first row when the index was $change after it was read', async ({ expected, act }) => {
    const { root, index } = await tree('index-changed-early');
    let changed = false;
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 1,
      // Called as the first tarball's row is made: after the index was read, before anything is appended.
      now: () => {
        if (!changed) act(index);
        changed = true;
        return new Date('2026-01-01T00:00:00Z');
      },
    });
    expect(result.isErr() && result.error.code).toBe('IO_ERROR');
    expect(result.isErr() && result.error.message).toContain(expected);
    expect(result.isErr() && result.error.partial?.appended).toBe(0);
    expect(existsSync(index) ? lines(index) : 'no index').toEqual(existsSync(index) ? [] : 'no index');
  });

  it('goes on while others only append', async () => {
    const { root, index } = await tree('index-appended');
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 1,
      onProgress: (p) => {
        if (p.done === 1) writeFileSync(index, '{"episode_id": "new", "host_id": "h"}\n', { flag: 'a' });
      },
    });
    expect(result._unsafeUnwrap().appended).toBe(3);
    expect(lines(index)).toHaveLength(5);
  });
});
