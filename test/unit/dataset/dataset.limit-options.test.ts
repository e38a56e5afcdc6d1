import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset, type ReadDatasetOptions } from '../../../src/dataset/index.js';
import { BackfillError } from '../../../src/errors.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-limits-');
const file = join(dir, 'limits.tar.zst');
// One record of about 2 KiB: longer than a maxLineBytes of 1000.
const ready = writeDataset(file, { members: { 'a.ndjson': [{ _id: 'x', pad: 'p'.repeat(2000) }] } }).then((r) => r._unsafeUnwrap());

async function refusal(options: ReadDatasetOptions): Promise<BackfillError> {
  try {
    for await (const member of readDataset(file, options)) for await (const line of member.lines()) void line;
  } catch (e) {
    expect(e).toBeInstanceOf(BackfillError);
    return e as BackfillError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

describe('readDataset: the decompression-bomb and line limits', () => {
  // NaN (say Number(process.env.MAX_BYTES) with the variable unset) compares false with everything,
  // so each guard was silently off: a bomb or a 200 MB line went through.
  const bad: readonly [keyof ReadDatasetOptions, unknown][] = [
    ['maxDecompressedBytes', Number.NaN],
    ['maxCompressionRatio', Number.NaN],
    ['maxLineBytes', Number.NaN],
    ['maxLineBytes', '1000'],
    ['maxDecompressedBytes', 0],
    ['maxLineBytes', -1],
    ['maxCompressionRatio', null],
  ];

  it.each(bad)('refuses %s = %s with INVALID_ARGUMENT naming the option, before reading', async (option, value) => {
    await ready;
    const options = { [option]: value } as unknown as ReadDatasetOptions;
    const e = await refusal(options);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(new RegExp(`^${option} must be a number above 0`));
    const stream = createReadStream(file);
    const scanned = await readDataset(stream, options).scan();
    expect(scanned.isErr() && scanned.error.code).toBe('INVALID_ARGUMENT');
    expect(stream.destroyed).toBe(true);
    if (!stream.closed) await once(stream, 'close');
    const verified = await verifyDataset(file, options as never);
    expect(verified.isErr() && verified.error.code).toBe('INVALID_ARGUMENT');
  });

  it('keeps the limits that are numbers above 0, Infinity turning a check off', async () => {
    await ready;
    expect(await refusal({ maxLineBytes: 1000 })).toMatchObject({ code: 'LINE_TOO_LONG' });
    const read = await readDataset(file, { maxLineBytes: Infinity, maxCompressionRatio: Infinity, maxDecompressedBytes: 1e9 }).scan();
    expect(read.isOk() && read.value.manifest.members[0]).toMatchObject({ name: 'a.ndjson', records: 1 });
  });
});
