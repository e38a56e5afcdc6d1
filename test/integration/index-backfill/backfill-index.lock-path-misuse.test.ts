/**
 * `lockPath` (`--lock-path`) naming the index itself: the lock was created
 * as the index (its first lines a process id and a host name), and once that
 * process had exited the next run took the index for a stale lock and
 * deleted it, with every row the receiver had written.
 */
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { smallTree } from './episode-tree.js';

const tree = (prefix: string) => smallTree(prefix, ['e1']);

describe('backfillIndex with lockPath naming the index', () => {
  it('refuses before anything is written, so no later run can take the index for a stale lock and delete it', async () => {
    const { root, index } = await tree('lock-is-index');
    const first = await backfillIndex({ episodesRoot: root, index, lockPath: index });
    expect(first.isErr() && first.error.code).toBe('INVALID_ARGUMENT');
    expect(first.isErr() && first.error.message).toContain('is the index itself');
    expect(existsSync(index)).toBe(false);

    // The receiver's row, then a second run with the same mistake: the index keeps every row.
    const receiver = '{"episode_id": "receiver-only", "host_id": "h"}\n';
    writeFileSync(index, receiver);
    const second = await backfillIndex({ episodesRoot: root, index, lockPath: index });
    expect(second.isErr() && second.error.code).toBe('INVALID_ARGUMENT');
    expect(readFileSync(index, 'utf8')).toBe(receiver);
  });

  it('also when the lock path reaches the index through a link, existing or not', async () => {
    const { dir, root, index } = await tree('lock-link-index');
    const alias = join(dir, 'alias');
    symlinkSync(dir, alias);
    const viaDir = await backfillIndex({ episodesRoot: root, index, lockPath: join(alias, 'index.jsonl') });
    expect(viaDir.isErr() && viaDir.error.code).toBe('INVALID_ARGUMENT');
    expect(existsSync(index)).toBe(false);
    writeFileSync(index, '');
    const link = join(dir, 'index-link');
    symlinkSync(index, link);
    const viaLink = await backfillIndex({ episodesRoot: root, index, lockPath: link });
    expect(viaLink.isErr() && viaLink.error.code).toBe('INVALID_ARGUMENT');
    expect(readFileSync(index, 'utf8')).toBe('');
    // A lock of its own still works.
    const ok = await backfillIndex({ episodesRoot: root, index, lockPath: join(dir, 'own.lock') });
    expect(ok._unsafeUnwrap().appended).toBe(1);
  });
});
