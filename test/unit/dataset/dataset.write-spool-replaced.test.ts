/**
 * A spooled member's copy replaced before it was packed (someone else's
 * file renamed over it): writeDataset fails with IO_ERROR, as it should.
 * The packing had already started that member's tar entry, and left it
 * open, nobody listening to it, in a pipeline that was left waiting: once
 * the write's signal fired later (the caller's Ctrl-C, its shutdown), the
 * pipeline ended with it and the entry's 'error' went unheard, an uncaught
 * exception that ends the process.
 */
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';
import { collectUnobserved } from '../../support/unobserved.js';

const root = tempDir('bk-write-spool-replaced-');
const unobserved = collectUnobserved();

describe('writeDataset whose spooled copy of a member is replaced before it is packed', () => {
  it('fails with IO_ERROR, and its signal firing later leaves no error unheard', async () => {
    const path = join(root, 'ds.tar.zst');
    const signal = new AbortController();
    async function* records(): AsyncGenerator<object> {
      // a.ndjson is spooled by now: another file takes its spooled copy's name.
      const spooledA = readdirSync(root).find((f) => readFileSync(join(root, f), 'utf8') === '{"_id":"a"}\n');
      expect(spooledA).toBeDefined();
      writeFileSync(join(root, 'other'), '{"_id":"not a"}\n');
      renameSync(join(root, 'other'), join(root, spooledA!));
      yield { _id: 'b' };
    }
    const written = await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }], 'b.ndjson': records() }, signal: signal.signal });
    expect(written.isErr() && written.error.code).toBe('IO_ERROR');
    expect(written.isErr() && written.error.message).toContain('was replaced');
    signal.abort();
    for (let turn = 0; turn < 20; turn++) await nextTurn();
    expect(unobserved).toEqual({ rejections: [], exceptions: [] });
  });
});
