/**
 * Someone else's line left unfinished at the end of the index while a run
 * appends: a receiver that writes a row in more than one write, or one
 * whose write was cut short (a full disk). The run's row was written right
 * after the unfinished bytes, so both lines were lost to every reader.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { smallTree } from './episode-tree.js';

const tree = (prefix: string) => smallTree(prefix, ['e1', 'e2', 'e3'], '{"episode_id": "old", "host_id": "h"}\n');

/** Every line's episode id; throws on a line that is not JSON. */
const ids = (index: string): string[] =>
  readFileSync(index, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { episode_id: string }).episode_id);

describe('backfillIndex when the index ends in someone else’s unfinished line', () => {
  it('waits for the line to be finished, then appends after it', async () => {
    const { root, index } = await tree('unfinished-finished');
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 1,
      onProgress: (p) => {
        if (p.done !== 1) return;
        appendFileSync(index, '{"episode_id": "rx", "ho');
        setTimeout(() => appendFileSync(index, 'st_id": "h"}\n'), 100);
      },
    });
    expect(result._unsafeUnwrap().appended).toBe(3);
    expect(ids(index)).toEqual(['old', 'e1', 'rx', 'e2', 'e3']);
  });

  it('starts its row on a line of its own when the line is never finished (a write cut short)', async () => {
    const { root, index } = await tree('unfinished-torn');
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 1,
      onProgress: (p) => {
        if (p.done === 1) appendFileSync(index, '{"episode_id": "rx", "ho');
      },
    });
    expect(result._unsafeUnwrap().appended).toBe(3);
    const lines = readFileSync(index, 'utf8').split('\n');
    expect(lines).toContain('{"episode_id": "rx", "ho');
    const rows = lines
      .filter((l) => l !== '' && l !== '{"episode_id": "rx", "ho')
      .map((l) => (JSON.parse(l) as { episode_id: string }).episode_id);
    expect(rows).toEqual(['old', 'e1', 'e2', 'e3']);
  });
});
