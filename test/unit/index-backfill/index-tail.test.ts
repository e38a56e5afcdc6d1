import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexTail } from '../../../src/index-backfill/index-tail.js';

const scratchIndex = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'backfill-kit-ib-tail-')), 'index.jsonl');
  writeFileSync(path, text);
  return path;
};

describe('IndexTail (lines others append while a backfill runs)', () => {
  it('gives the ids of whole lines after the offset, waits for an unfinished one, and passes over its own', async () => {
    const before = '{"episode_id": "old"}\n';
    const path = scratchIndex(before);
    const tail = new IndexTail(path, Buffer.byteLength(before), 1024);
    expect(await tail.newIds()).toEqual([]);

    const mine = '{"episode_id": "mine", "backfilled": true}';
    tail.expect(mine);
    appendFileSync(path, `${mine}\n{"episode_id": "r1"}\r\nnot json\n[1]\n{"episode_id": 7}\n{"episode_id": "r2", "host`);
    expect(await tail.newIds()).toEqual(['r1']);
    appendFileSync(path, '_id": "h"}\n');
    expect(await tail.newIds()).toEqual(['r2']);
    // The same line from someone else is theirs once this run's copy has gone by.
    appendFileSync(path, `${mine}\n`);
    expect(await tail.newIds()).toEqual(['mine']);
    await tail.close();
  });

  it('splits lines where the first read of the index does: a bare \\r, \\v, U+2028 and the other str.splitlines() breaks', async () => {
    const path = scratchIndex('');
    const tail = new IndexTail(path, 0, 1024);
    const mine = '{"episode_id": "mine"}';
    tail.expect(mine);
    appendFileSync(
      path,
      `{"episode_id": "cr1"}\r{"episode_id": "cr2"}\r${mine}\r{"episode_id": "vt"}\v{"episode_id": "ls"}\u2028{"episode_id": "nel"}\u0085{"episode_id": "part`,
    );
    expect(await tail.newIds()).toEqual(['cr1', 'cr2', 'vt', 'ls', 'nel']);
    expect(tail.unfinished).toBe(true);
    // A line ended by a bare \r is whole; the \n after it (\r\n split over two writes) adds only a blank line.
    appendFileSync(path, 'ial"}\r');
    expect(await tail.newIds()).toEqual(['partial']);
    appendFileSync(path, '\n{"episode_id": "last"}\n');
    expect(await tail.newIds()).toEqual(['last']);
    expect(tail.unfinished).toBe(false);
    await tail.close();
  });

  it('starts at the beginning of the line its offset falls in, however long (a row half written when the index was first read)', async () => {
    const head = `{"episode_id": "old"}\n{"episode_id": "r", "pad": "${'x'.repeat(150_000)}`;
    const path = scratchIndex(head);
    const tail = new IndexTail(path, Buffer.byteLength(head), 1024 * 1024);
    appendFileSync(path, '"}\n');
    expect(await tail.newIds()).toEqual(['r']);
    await tail.close();
  });

  it('stops with LINE_TOO_LONG on an unfinished line longer than the limit', async () => {
    const path = scratchIndex('');
    const tail = new IndexTail(path, 0, 100);
    appendFileSync(path, `{"episode_id": "${'x'.repeat(200)}`);
    await expect(tail.newIds()).rejects.toMatchObject({ code: 'LINE_TOO_LONG' });
    await tail.close();
  });
});
