/**
 * The reader keeps a little for every tar entry it has read (its stats and
 * the extracted path, to refuse a later clash): a hostile archive of
 * millions of empty entries, which compresses to almost nothing, grew the
 * reader's memory without bound. Past `maxEntries` entries (files and
 * directories) it is refused, as a path and as a stream.
 */
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_ENTRIES, readDataset, type ReadDatasetOptions } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { paxPath, tarHeader } from '../../support/tar-blocks.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar', 'zstd');
const dir = tempDir('bk-entry-limit-');

/** A plain tar of one empty file under the given (long) path. */
function deepArchive(name: string, path: string): string {
  const tar = join(dir, `${name}.tar`);
  writeFileSync(tar, Buffer.concat([paxPath(path), tarHeader('x', 0, '0'), Buffer.alloc(1024)]));
  return tar;
}

/** A zstd tar of `files` empty files under `directories` directories; GNU tar lists them all. */
function archive(name: string, files: number, directories = 0): string {
  const parts: Buffer[] = [];
  for (let d = 0; d < directories; d++) parts.push(tarHeader(`d${d}/`, 0, '5'));
  for (let i = 0; i < files; i++) parts.push(tarHeader(`f${i}.ndjson`, 0, '0'));
  parts.push(Buffer.alloc(1024));
  const tar = join(dir, `${name}.tar`);
  writeFileSync(tar, Buffer.concat(parts));
  expect(Number(run('bash', ['-c', `tar -tf '${tar}' | wc -l`]).trim())).toBe(files + directories);
  run('zstd', ['-q', '-f', tar, '-o', `${tar}.zst`]);
  return `${tar}.zst`;
}

async function scanned(input: () => string | Readable, options: ReadDatasetOptions) {
  return await readDataset(input(), options).scan();
}

describe('readDataset: the entry limit', () => {
  it.skipIf(tools.missing)(
    tools.title('refuses the entry past maxEntries (files and directories count), from a path and from a stream'),
    async () => {
      const file = archive('small', 6, 2);
      for (const input of [() => file, () => createReadStream(file)]) {
        const over = await scanned(input, { maxEntries: 7 });
        expect(over.isErr() && over.error.code).toBe('SIZE_LIMIT_EXCEEDED');
        expect(over.isErr() && over.error.message).toMatch(/more than 7 entries .*maxEntries/);
        // At the limit: read to the end (no manifest, but every member counted).
        const at = await readDataset(file, { maxEntries: 8 }).stats();
        expect(at.isOk() && at.value.members.length).toBe(6);
      }
      const verified = await verifyDataset(file, { maxEntries: 7, useSiblingChecksums: false });
      expect(verified.isErr() && verified.error.code).toBe('SIZE_LIMIT_EXCEEDED');
    },
  );

  it.skipIf(tools.missing)(tools.title('has a default: an archive of more entries is refused without any option'), async () => {
    const file = archive('default', DEFAULT_MAX_ENTRIES + 1);
    const over = await readDataset(file).scan();
    expect(over.isErr() && over.error.code).toBe('SIZE_LIMIT_EXCEEDED');
    const raised = await readDataset(file, { maxEntries: Infinity }).stats();
    expect(raised.isOk() && raised.value.members.length).toBe(DEFAULT_MAX_ENTRIES + 1);
  });

  it.skipIf(tools.missing)(tools.title('counts the directories a member name implies: one deep name is many paths'), async () => {
    // 2,000 nested directories and a file, 4,008 bytes: within what tar -x can create.
    const tar = deepArchive('deep', `${'a/'.repeat(2000)}f.ndjson`);
    const over = await readDataset(tar, { maxEntries: 1000 }).scan();
    expect(over.isErr() && over.error.code).toBe('SIZE_LIMIT_EXCEEDED');
    const at = await readDataset(tar, { maxEntries: 2001 }).stats();
    expect(at.isOk() && at.value.members.map((m) => m.name.length)).toEqual([4008]);
  });

  it.skipIf(tools.missing)(
    tools.title('refuses a member name longer than a path may be (4,095 bytes), which tar -x cannot create'),
    async () => {
      const tar = deepArchive('too-long', `${'a/'.repeat(3000)}f.ndjson`);
      const extract = join(dir, 'extract');
      run('mkdir', ['-p', extract]);
      expect(() => run('tar', ['-xf', tar, '-C', extract], {})).toThrow();
      const r = await readDataset(tar, { maxEntries: Infinity }).scan();
      expect(r.isErr() && r.error.code).toBe('MEMBER_PATH_UNSAFE');
      expect(r.isErr() && r.error.message).toMatch(/longer than 4095 bytes/);
    },
  );

  it('refuses a maxEntries that is not a number above 0', async () => {
    for (const value of [0, -1, Number.NaN, '10']) {
      const r = await readDataset(join(dir, 'none'), { maxEntries: value as number }).scan();
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toMatch(/maxEntries/);
    }
  });
});

describe('writeDataset and the entry limit', () => {
  it('refuses more members than readers take by default, instead of writing a dataset they refuse', async () => {
    const { writeDataset } = await import('../../../src/dataset/index.js');
    const members = Object.fromEntries(Array.from({ length: DEFAULT_MAX_ENTRIES }, (_, i) => [`m${i}.ndjson`, [] as string[]]));
    const r = await writeDataset(join(dir, 'many.tar.zst'), { members });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toMatch(/readers take .* by default/);
  });
});
