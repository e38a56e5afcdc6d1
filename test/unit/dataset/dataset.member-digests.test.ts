import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset, type Dataset, type DatasetStats, type ReadDatasetOptions } from '../../../src/dataset/index.js';
import { BackfillError } from '../../../src/errors.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { needTools, run, sh, tempDir } from '../../support/tmp.js';

// `memberDigests: false` leaves out the members' SHA-256 and nothing else: the
// same lines, counts and file digest, members' sha256 null. The file digest
// still catches a changed member. Oracles: sha256sum, GNU tar and zstd.
const tools = needTools('sha256sum', 'tar', 'zstd', 'gzip');
const dir = tempDir('bk-member-digests-');
const file = join(dir, 'digests.tar.zst');
// Big enough for several zstd frames and decoded pieces, so lines straddle them.
const ready = writeDataset(file, {
  members: { 'linksets.ndjson': generateLinksets(30_000, 5), 'advisory_chunks.ndjson': generateAdvisoryChunks(2_000, 9) },
});

function sha256sum(path: string): string {
  return run('sha256sum', [path]).slice(0, 64);
}

/** Every member's byte lines, as `[line, raw]`, copied; and the stats of the same pass. */
async function byteLines(ds: Dataset): Promise<{ lines: Record<string, [number, Buffer][]>; stats: DatasetStats }> {
  const lines: Record<string, [number, Buffer][]> = {};
  for await (const member of ds) {
    const got: [number, Buffer][] = [];
    for await (const batch of member.lineBatches({ encoding: 'buffer' })) for (const l of batch) got.push([l.line, Buffer.from(l.raw)]);
    lines[member.name] = got;
  }
  return { lines, stats: (await ds.stats())._unsafeUnwrap() };
}

async function refusal(ds: Dataset): Promise<BackfillError> {
  try {
    for await (const member of ds) void member;
  } catch (e) {
    expect(e).toBeInstanceOf(BackfillError);
    return e as BackfillError;
  }
  throw new Error('expected the options to be refused');
}

describe('readDataset with memberDigests: false', () => {
  it.skipIf(tools.missing)(
    tools.title('hands out the same lines and counts as the default read, the file digest sha256sum computes, and no member digests'),
    async () => {
      await ready;
      const gz = join(dir, 'digests.tar.gz');
      const plain = join(dir, 'digests.tar');
      sh(`zstd -dc '${file}' > '${plain}' && gzip -c '${plain}' > '${gz}'`);
      for (const path of [file, gz, plain]) {
        const inputs: [string, () => string | Readable][] = [
          ['path', () => path],
          ['stream', () => createReadStream(path)],
        ];
        for (const [how, input] of inputs) {
          const hashed = await byteLines(readDataset(input()));
          const fast = await byteLines(readDataset(input(), { memberDigests: false }));
          expect(Object.keys(fast.lines), `${path} ${how}`).toEqual(['manifest.json', 'advisory_chunks.ndjson', 'linksets.ndjson']);
          for (const [name, got] of Object.entries(fast.lines)) {
            const want = hashed.lines[name]!;
            expect(got.length, `${path} ${how} ${name}`).toBe(want.length);
            expect(
              got.every(([line, raw], i) => line === want[i]![0] && raw.equals(want[i]![1])),
              `${path} ${how} ${name}`,
            ).toBe(true);
          }
          expect(fast.lines['linksets.ndjson']).toHaveLength(30_000);
          expect(fast.stats.sha256).toBe(sha256sum(path));
          expect(fast.stats.members.map((m) => m.sha256)).toEqual([null, null, null]);
          // Everything else the same as the default read's: counts, sizes, compression, tar size.
          expect(fast.stats).toEqual({ ...hashed.stats, members: hashed.stats.members.map((m) => ({ ...m, sha256: null })) });
          expect(hashed.stats.members.map((m) => m.records)).toEqual([null, 2_000, 30_000]);
          expect(hashed.stats.members.every((m) => /^[0-9a-f]{64}$/.test(m.sha256!))).toBe(true);
        }
      }
    },
  );

  it('scan() and the manifest work the same without member digests', async () => {
    await ready;
    const { stats, manifest } = (await readDataset(file, { memberDigests: false }).scan())._unsafeUnwrap();
    expect(manifest.members.map((m) => [m.name, m.records])).toEqual([
      ['advisory_chunks.ndjson', 2_000],
      ['linksets.ndjson', 30_000],
    ]);
    expect(stats.members.map((m) => [m.name, m.records, m.sha256])).toEqual([
      ['manifest.json', null, null],
      ['advisory_chunks.ndjson', 2_000, null],
      ['linksets.ndjson', 30_000, null],
    ]);
    // `true`, like the default, computes them.
    const explicit = (await readDataset(file, { memberDigests: true }).scan())._unsafeUnwrap();
    expect(explicit.stats.members.map((m) => m.sha256)).toEqual(
      (await readDataset(file).scan())._unsafeUnwrap().stats.members.map((m) => m.sha256),
    );
    expect(explicit.stats.members[2]!.sha256).toBe(manifest.members[1]!.sha256);
  });

  it.skipIf(tools.missing)(
    tools.title('a member changed inside a still valid tar: the file digest no longer matches the .sha256 written at build time'),
    async () => {
      const built = join(dir, 'built');
      mkdirSync(built, { recursive: true });
      const path = join(built, 'linksets.tar.zst');
      const written = (await writeDataset(path, { members: { 'linksets.ndjson': generateLinksets(3_000, 11) } }))._unsafeUnwrap();
      // The sidecar as `dataset build` writes it, in sha256sum's format.
      writeFileSync(`${path}.sha256`, `${written.sha256}  linksets.tar.zst\n`);
      expect(run('sha256sum', ['--check', 'linksets.tar.zst.sha256'], { cwd: built })).toContain('OK');

      // Change one byte of one record (same length, same line count), then pack it again with GNU tar and zstd.
      const unpacked = join(dir, 'unpacked');
      mkdirSync(unpacked, { recursive: true });
      sh(`zstd -dc '${path}' | tar -xf - -C '${unpacked}'`);
      const member = join(unpacked, 'linksets.ndjson');
      const text = readFileSync(member);
      const at = text.indexOf('"_id":"') + '"_id":"'.length;
      text[at] = text[at] === 0x41 ? 0x42 : 0x41;
      writeFileSync(member, text);
      sh(`tar -C '${unpacked}' -cf - manifest.json linksets.ndjson | zstd -q -f -o '${path}'`);
      expect(sh(`zstd -dc '${path}' | tar -tvf - | wc -l`).trim()).toBe('2');

      const { lines, stats } = await byteLines(readDataset(path, { memberDigests: false }));
      // The changed record comes out as stored, and nothing in the pass refuses it…
      expect(lines['linksets.ndjson']).toHaveLength(3_000);
      expect(lines['linksets.ndjson']![0]![1].equals(text.subarray(0, text.indexOf(0x0a)))).toBe(true);
      expect(stats.members.find((m) => m.name === 'linksets.ndjson')?.sha256).toBeNull();
      // …but the file's digest, computed in the same pass, is not the recorded one.
      expect(stats.sha256).toBe(sha256sum(path));
      expect(stats.sha256).not.toBe(written.sha256);
      expect(sh(`sha256sum --check linksets.tar.zst.sha256 2>&1 || true`, built)).toContain('FAILED');
      // With member digests on, the member's digest disagrees with the manifest as well.
      const hashed = (await readDataset(path).scan())._unsafeUnwrap();
      const listed = hashed.manifest.members.find((m) => m.name === 'linksets.ndjson')!.sha256;
      expect(hashed.stats.members.find((m) => m.name === 'linksets.ndjson')!.sha256).not.toBe(listed);
      expect(hashed.stats.members.find((m) => m.name === 'linksets.ndjson')!.sha256).toBe(run('sha256sum', [member]).slice(0, 64));
    },
  );

  it('refuses a memberDigests that is not true or false, naming the option, from iteration, stats() and scan()', async () => {
    await ready;
    for (const value of ['false', 0, 1, null, {}, 'no']) {
      const options = { memberDigests: value } as unknown as ReadDatasetOptions;
      const e = await refusal(readDataset(file, options));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(/^memberDigests must be true or false; got /);
      expect(e.message).toContain(typeof value === 'string' ? JSON.stringify(value) : String(value));
      const stats = await readDataset(file, options).stats();
      expect(stats.isErr() && stats.error.code).toBe('INVALID_ARGUMENT');
      const stream = createReadStream(file);
      const scanned = await readDataset(stream, options).scan();
      expect(scanned.isErr() && scanned.error.message).toMatch(/^memberDigests must be true or false/);
      expect(stream.destroyed).toBe(true); // the caller's stream is released, as on any other refusal
      if (!stream.closed) await once(stream, 'close'); // its open was already under way: let it finish before the directory goes
    }
  });
});
