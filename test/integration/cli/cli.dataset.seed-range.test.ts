/**
 * `dataset build --seed` took any whole number up to 2^53 − 1, but the
 * generators take seeds from 0 to 2^32 − 1, and the advisory chunks are
 * generated with the seed after `--seed`: `--seed 4294967295` (the last
 * seed the generators take) and any larger one failed as an INTERNAL error
 * ("This is a bug", exit 1) naming a seed nobody wrote. `--seed` now takes
 * 0 to 4294967295, refusing others as INVALID_ARGUMENT naming the flag, and
 * the chunks' seed after the last one is 0.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { cli, jsonOf } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-cli-seed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each member's records as the dataset at `path` holds them. */
async function recordsOf(path: string): Promise<Record<string, unknown[]>> {
  const members: Record<string, unknown[]> = {};
  for await (const member of readDataset(path)) {
    if (member.name === 'manifest.json') continue;
    const records: unknown[] = [];
    for await (const record of member.records()) records.push(record.value);
    members[member.name] = records;
  }
  return members;
}

describe.concurrent('dataset build --seed', () => {
  it('takes the last seed the generators take, the chunks taking seed 0 after it', async () => {
    const out = join(dir, 'last.tar.zst');
    const r = await cli(['dataset', 'build', out, '--linksets', '2', '--chunks', '2', '--seed', '4294967295', '--json']);
    expect(r.code).toBe(0);
    expect(await recordsOf(out)).toEqual(
      JSON.parse(
        JSON.stringify({
          'advisory_chunks.ndjson': [...generateAdvisoryChunks(2, 0)],
          'linksets.ndjson': [...generateLinksets(2, 4294967295)],
        }),
      ),
    );
  });

  it('refuses a seed past it as INVALID_ARGUMENT naming --seed, and writes nothing', async () => {
    const out = join(dir, 'past.tar.zst');
    const r = await cli(['dataset', 'build', out, '--linksets', '1', '--chunks', '1', '--seed', '4294967296', '--json']);
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toBe('--seed must be an integer from 0 to 4294967295, not "4294967296".');
    expect(existsSync(out)).toBe(false);
  });
});
