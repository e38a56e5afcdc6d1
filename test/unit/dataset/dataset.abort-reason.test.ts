import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

/**
 * `controller.abort(reason)` takes any value: an Error, a string, a number.
 * Whatever it is, an aborted call is `ABORTED` (exit 130 from the CLI), never
 * a failed write (`IO_ERROR`).
 */
const dir = tempDir('bk-abort-reason-');
const REASONS: [string, unknown][] = [
  ['an Error', new Error('stop now')],
  ['a string', 'stop now'],
  ['a number', 42],
  ['nothing', undefined],
];

async function* endless(): AsyncGenerator<Record<string, unknown>> {
  for (let i = 0; ; i++) {
    if (i % 1000 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    yield { _id: i };
  }
}

describe('an abort with any reason is ABORTED', () => {
  it.each(REASONS)('writeDataset aborted before it starts, with %s', async (_, reason) => {
    const path = join(dir, 'before.tar.zst');
    writeFileSync(path, 'previous');
    const controller = new AbortController();
    controller.abort(reason);
    const written = await writeDataset(path, { members: { 'a.ndjson': [{ _id: 1 }] }, signal: controller.signal });
    expect(written._unsafeUnwrapErr().code).toBe('ABORTED');
    expect(readFileSync(path, 'utf8')).toBe('previous');
  });

  it.each(REASONS)('writeDataset aborted while it writes, with %s', async (_, reason) => {
    const path = join(dir, 'during.tar.zst');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 50);
    const written = await writeDataset(path, { members: { 'a.ndjson': endless() }, signal: controller.signal });
    expect(written._unsafeUnwrapErr().code).toBe('ABORTED');
    expect(existsSync(path)).toBe(false);
  });

  it.each(REASONS)('readDataset and verifyDataset aborted with %s', async (_, reason) => {
    const path = join(dir, 'read.tar.zst');
    (await writeDataset(path, { members: { 'a.ndjson': [{ _id: 1 }] } }))._unsafeUnwrap();
    const controller = new AbortController();
    controller.abort(reason);
    expect((await readDataset(path, { signal: controller.signal }).scan())._unsafeUnwrapErr().code).toBe('ABORTED');
    expect((await verifyDataset(path, { signal: controller.signal }))._unsafeUnwrapErr().code).toBe('ABORTED');
  });
});
