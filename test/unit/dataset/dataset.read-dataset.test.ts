import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants, createGzip, createZstdCompress } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset, type Dataset } from '../../../src/dataset/index.js';
import { BackfillError } from '../../../src/errors.js';
import { generateLinksets } from '../../../src/testing/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { run, sh, tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-read-');

function sha256sum(file: string): string {
  return run('sha256sum', [file]).split(' ')[0]!;
}

/** Reads every record of every member; returns counts per member. */
async function readAll(ds: Dataset): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for await (const m of ds) {
    if (!m.name.endsWith('.ndjson')) continue;
    counts[m.name] = 0;
    for await (const r of m.records()) {
      void r;
      counts[m.name]! += 1;
    }
  }
  return counts;
}

async function failure(ds: Dataset): Promise<BackfillError> {
  try {
    await readAll(ds);
  } catch (e) {
    expect(e).toBeInstanceOf(BackfillError);
    return e as BackfillError;
  }
  const scanned = await ds.manifest();
  if (scanned.isErr()) return scanned.error;
  throw new Error('expected the dataset to fail');
}

/** A directory of NDJSON members plus a manifest, to be packed by GNU tar. */
function memberDir(name: string, members: Record<string, string>, manifest?: object): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [file, text] of Object.entries(members)) writeFileSync(join(d, file), text);
  if (manifest) writeFileSync(join(d, 'manifest.json'), JSON.stringify(manifest));
  return d;
}

/** Builds a tar with tar-stream, for shapes GNU tar won't make (hostile names, devices). */
async function craftTar(
  file: string,
  entries: { header: tar.Header | Record<string, unknown>; body?: string | Buffer }[],
  compress = false,
): Promise<void> {
  const pack = tar.pack();
  const done = compress
    ? pipeline(pack, createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: 1 } }), createWriteStream(file))
    : pipeline(pack, createWriteStream(file));
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry(e.header as tar.Header, e.body ?? '', (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
}

const lines = (n: number, start = 0): string =>
  `${Array.from({ length: n }, (_, i) => JSON.stringify({ _id: `id-${start + i}`, v: 'é\t"q"' })).join('\n')}\n`;

describe('readDataset on archives made by GNU tar and the zstd CLI', () => {
  const src = memberDir(
    'gnu',
    { 'linksets.ndjson': lines(340), 'advisory_chunks.ndjson': lines(1200, 1000) },
    {
      schemaVersion: 1,
      name: 'linksets-stage-backfill',
      members: [
        { name: 'linksets.ndjson', records: 340 },
        { name: 'advisory_chunks.ndjson', records: 1200 },
      ],
      producedBy: 'hand',
    },
  );
  const zst = join(dir, 'gnu.tar.zst');
  sh(`tar -C '${src}' -cf - linksets.ndjson advisory_chunks.ndjson manifest.json | zstd -q -19 -o '${zst}'`);

  it('reads the manifest last, with unknown keys kept, and counts records like wc -l', async () => {
    const ds = readDataset(zst);
    expect(await readAll(ds)).toEqual({ 'linksets.ndjson': 340, 'advisory_chunks.ndjson': 1200 });
    const manifest = (await ds.manifest())._unsafeUnwrap();
    expect(manifest.name).toBe('linksets-stage-backfill');
    expect(manifest.producedBy).toBe('hand');
    const stats = (await ds.stats())._unsafeUnwrap();
    expect(stats.compression).toBe('zstd');
    expect(stats.sha256).toBe(sha256sum(zst));
    expect(stats.bytes).toBe(readFileSync(zst).length);
    expect(stats.members.map((m) => m.name)).toEqual(['linksets.ndjson', 'advisory_chunks.ndjson', 'manifest.json']);
    for (const m of stats.members) {
      expect(m.sha256).toBe(sha256sum(join(src, m.name)));
      expect(m.bytes).toBe(readFileSync(join(src, m.name)).length);
    }
    expect(stats.members[0]!.records).toBe(Number(run('wc', ['-l', join(src, 'linksets.ndjson')]).split(' ')[0]));
  });

  it('reads gzip and plain tar, detected from magic bytes whatever the file is called', async () => {
    const gz = join(dir, 'gnu-gzip.dat');
    const plain = join(dir, 'gnu-plain.tar.zst'); // misleading name on purpose
    sh(`tar -C '${src}' -czf '${gz}' . && tar -C '${src}' -cf '${plain}' .`);
    for (const [file, compression] of [
      [gz, 'gzip'],
      [plain, 'none'],
    ] as const) {
      const ds = readDataset(file);
      expect(await readAll(ds)).toEqual({ 'linksets.ndjson': 340, 'advisory_chunks.ndjson': 1200 });
      expect((await ds.stats())._unsafeUnwrap().compression).toBe(compression);
      expect((await ds.manifest())._unsafeUnwrap().members).toHaveLength(2);
    }
  });

  it('a slow reader gets every line intact from each compression, the decode worker held back by its acks', async () => {
    // ~6 MB decoded: more than the worker's 4 MiB of read-ahead, so it must wait
    // for acks mid-read; lines are compared with GNU tar's extraction and the
    // member digest with sha256sum.
    const rows = 24_000;
    const blocker = new Int32Array(new SharedArrayBuffer(4));
    for (const compression of ['zstd', 'gzip', 'none'] as const) {
      const file = join(dir, `slow-${compression}.tar`);
      (await writeDataset(file, { members: { 'linksets.ndjson': generateLinksets(rows, 5) }, compression }))._unsafeUnwrap();
      const ds = readDataset(file);
      const seen: string[] = [];
      for await (const member of ds) {
        if (member.name !== 'linksets.ndjson') continue;
        for await (const batch of member.lineBatches()) {
          for (const { raw } of batch) seen.push(raw);
          // Block this thread (as heavy per-batch work would), so the worker's
          // messages queue up unread while it keeps decoding.
          Atomics.wait(blocker, 0, 0, 5);
        }
      }
      const stats = (await ds.stats())._unsafeUnwrap();
      const extracted = join(dir, `slow-${compression}`);
      mkdirSync(extracted, { recursive: true });
      sh(`tar -C '${extracted}' -xf '${file}'`);
      const want = readFileSync(join(extracted, 'linksets.ndjson'), 'utf8')
        .split('\n')
        .filter((l) => l !== '');
      expect(seen.length).toBe(rows);
      expect(seen).toEqual(want);
      expect(stats.members.find((m) => m.name === 'linksets.ndjson')?.sha256).toBe(sha256sum(join(extracted, 'linksets.ndjson')));
    }
  });

  it('a reader still busy after the decode workers have finished and exited gets every member and the stats', async () => {
    // The whole archive fits in the read-ahead, so the workers are done and
    // gone long before this consumer is: their exit must not count as a failure.
    const file = join(dir, 'workers-done-first.tar.zst');
    const ids = (n: number): { _id: string }[] => Array.from({ length: n }, (_, i) => ({ _id: `id-${i}` }));
    (await writeDataset(file, { members: { 'a.ndjson': ids(3), 'b.ndjson': ids(2), 'c.ndjson': ids(1) } }))._unsafeUnwrap();
    const ds = readDataset(file);
    const counts: Record<string, number> = {};
    for await (const m of ds) {
      await new Promise((r) => setTimeout(r, 100));
      for await (const batch of m.lineBatches()) if (m.name !== 'manifest.json') counts[m.name] = batch.length;
    }
    expect(counts).toEqual({ 'a.ndjson': 3, 'b.ndjson': 2, 'c.ndjson': 1 });
    expect((await ds.stats())._unsafeUnwrap().members.map((m) => m.records)).toEqual([null, 3, 2, 1]);
  });

  it('stops at the end-of-archive zero blocks as GNU tar does, from a path and from a stream', async () => {
    // Two archives back to back: the first one's zero blocks sit between them, and GNU tar lists only the first.
    const a = memberDir('concat-a', { 'a.ndjson': lines(30) });
    const b = memberDir('concat-b', { 'b.ndjson': lines(40, 100) });
    const zst = join(dir, 'concat.tar.zst');
    sh(`(tar -C '${a}' -cf - a.ndjson; tar -C '${b}' -cf - b.ndjson) | zstd -q -f -o '${zst}'`);
    const digests = async (ds: Dataset<string>): Promise<Record<string, string>> => {
      for await (const member of ds) void member;
      return Object.fromEntries((await ds.stats())._unsafeUnwrap().members.map((m) => [m.name, m.sha256]));
    };
    expect(sh(`zstd -dc '${zst}' | tar -tf -`)).toBe('a.ndjson\n');
    const fromPath = await digests(readDataset(zst));
    expect(fromPath).toEqual(await digests(readDataset(createReadStream(zst))));
    expect(fromPath).toEqual({ 'a.ndjson': sha256sum(join(a, 'a.ndjson')) });
  });

  it('decodes on its worker thread under `node --input-type=module -e` too (the worker ignores inherited flags)', () => {
    const source = join(fileURLToPath(new URL('../../..', import.meta.url)), 'src/dataset/index.ts');
    const script = `import { readDataset } from ${JSON.stringify(pathToFileURL(source).href)};
const r = await readDataset(${JSON.stringify(zst)}).scan();
console.log(r.isOk() ? r.value.stats.members.map((m) => m.records).join(',') : r.error.message);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: r.status, stdout: r.stdout.trim() }).toEqual({ status: 0, stdout: '340,1200,' });
  });

  it('reads a zstd file made of several frames (parts compressed apart, then concatenated)', async () => {
    const tarFile = join(dir, 'frames.tar');
    const zst = join(dir, 'frames.tar.zst');
    sh(
      `tar -C '${src}' -cf '${tarFile}' . && cd '${dir}' && split -b 10000 '${tarFile}' frames.part. && for p in frames.part.*; do zstd -q -c "$p"; done > '${zst}'`,
    );
    expect(Number(sh(`zstd -lv '${zst}' | sed -n 's/^# Zstandard Frames: *//p'`).trim())).toBeGreaterThan(5);
    const ds = readDataset(zst);
    expect(await readAll(ds)).toEqual({ 'linksets.ndjson': 340, 'advisory_chunks.ndjson': 1200 });
    const stats = (await ds.stats())._unsafeUnwrap();
    expect(stats.sha256).toBe(sha256sum(zst));
    // Up to the end-of-archive marker: GNU tar pads the file with zero blocks past it.
    const tarBytes = readFileSync(tarFile);
    expect(stats.tarBytes % 512).toBe(0);
    expect(tarBytes.subarray(stats.tarBytes).every((b) => b === 0)).toBe(true);
    expect(tarBytes.subarray(stats.tarBytes - 512, stats.tarBytes).some((b) => b !== 0)).toBe(true);
  });

  it('handles member names over 100 characters (GNU long names and PAX headers)', async () => {
    const long = `${'d'.repeat(60)}/${'n'.repeat(80)}.ndjson`;
    const d = join(dir, 'longnames');
    mkdirSync(join(d, 'd'.repeat(60)), { recursive: true });
    writeFileSync(join(d, long), lines(3));
    for (const format of ['gnu', 'posix']) {
      const file = join(dir, `long-${format}.tar`);
      sh(`tar -C '${d}' --format=${format} -cf '${file}' '${long}'`);
      const ds = readDataset(file);
      expect(await readAll(ds)).toEqual({ [long]: 3 });
    }
  });

  it('gives every member the digest and size sha256sum sees, for each tar format and from a path or a stream', async () => {
    // Sizes around the 512-byte block, an empty member, directories, a long
    // name, and a member of several decoded pieces (512 KiB each) so digests straddle pieces.
    const d = join(dir, 'digests');
    const long = `${'d'.repeat(60)}/${'n'.repeat(80)}.ndjson`;
    mkdirSync(join(d, 'd'.repeat(60)), { recursive: true });
    mkdirSync(join(d, 'sub'), { recursive: true });
    const bodies: Record<string, string> = {
      'empty.ndjson': '',
      'one.ndjson': '{}',
      'b511.ndjson': `{"p":"${'x'.repeat(511 - 9)}"}\n`,
      'b512.ndjson': `{"p":"${'x'.repeat(512 - 9)}"}\n`,
      'sub/b1024.ndjson': `{"p":"${'x'.repeat(1024 - 9)}"}\n`,
      [long]: lines(5),
      'big.ndjson': lines(40_000),
    };
    for (const [name, body] of Object.entries(bodies)) writeFileSync(join(d, name), body);
    const names = Object.keys(bodies).sort();
    // `comment=` puts a PAX global header ('g') at the front, `comment:=` a PAX header before each member.
    const formats = {
      gnu: '--format=gnu',
      posix: '--format=posix',
      'posix-global': '--format=posix --pax-option=comment=hi',
      'posix-each': '--format=posix --pax-option=comment:=hi',
      ustar: '--format=ustar',
    };
    for (const [format, flags] of Object.entries(formats)) {
      const inArchive = format === 'ustar' ? names.filter((n) => n !== long) : names;
      const file = join(dir, `digests-${format}.tar.zst`);
      sh(`tar -C '${d}' ${flags} -cf - . | zstd -q -o '${file}' -f`);
      for (const input of [() => readDataset(file), () => readDataset(createReadStream(file))]) {
        const ds = input();
        for await (const member of ds) void member; // no manifest here, so no scan()
        const stats = (await ds.stats())._unsafeUnwrap();
        const got = Object.fromEntries(stats.members.filter((m) => inArchive.includes(m.name)).map((m) => [m.name, [m.sha256, m.bytes]]));
        expect(got).toEqual(Object.fromEntries(inArchive.map((n) => [n, [sha256sum(join(d, n)), Buffer.byteLength(bodies[n]!)]])));
      }
    }
  });

  it('drains members the caller skips, so stats still cover every byte', async () => {
    const ds = readDataset(zst);
    for await (const m of ds) void m;
    const stats = (await ds.stats())._unsafeUnwrap();
    expect(stats.members.map((m) => m.records)).toEqual([340, 1200, null]);
  });

  it('scans on demand when manifest() is called without iterating', async () => {
    const manifest = await readDataset(zst).manifest();
    expect(manifest._unsafeUnwrap().members).toHaveLength(2);
    const scanned = (await readDataset(zst).scan())._unsafeUnwrap();
    expect(scanned.stats.sha256).toBe(sha256sum(zst));
  });

  it('reads from a Readable (e.g. stdin) as well as a path', async () => {
    const ds = readDataset(createReadStream(zst));
    expect(await readAll(ds)).toEqual({ 'linksets.ndjson': 340, 'advisory_chunks.ndjson': 1200 });
  });

  it('yields lines() and chunks() too, and refuses a second read of one member', async () => {
    const ds = readDataset(zst);
    for await (const m of ds) {
      if (m.name === 'linksets.ndjson') {
        const got = [];
        for await (const l of m.lines()) got.push(l);
        expect(got).toHaveLength(340);
        expect(got[0]).toEqual({ line: 1, raw: '{"_id":"id-0","v":"é\\t\\"q\\""}' });
        await expect(m.records()[Symbol.asyncIterator]().next()).rejects.toThrow(/read once/);
      }
      if (m.name === 'manifest.json') {
        const parts: Buffer[] = [];
        for await (const c of m.chunks()) parts.push(c);
        expect(JSON.parse(Buffer.concat(parts).toString()).schemaVersion).toBe(1);
      }
    }
  });

  it("lines({ encoding: 'buffer' }) hands out each line's bytes undecoded, as views that stay valid", async () => {
    // Big enough to span several decoded pieces, so lines straddle them; the
    // byte lines are all kept until the end, then compared with the member
    // GNU tar extracts.
    const body = [...generateLinksets(40_000, 3)].map((r) => `${JSON.stringify(r)}\n`).join('');
    const d = memberDir('byte-lines', { 'linksets.ndjson': body, 'odd.ndjson': '\uFEFF{"a":1}\r\n\r\n  \n{"b":"\u00e9"}\n' });
    writeFileSync(join(d, 'bad-utf8.ndjson'), Buffer.from([0x7b, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a])); // {"x":"\xff\xfe"}
    const file = join(dir, 'byte-lines.tar.zst');
    sh(`tar -C '${d}' -cf - . | zstd -q -o '${file}' -f`);
    for (const input of [() => readDataset(file), () => readDataset(createReadStream(file))]) {
      const kept: Record<string, { line: number; raw: Buffer }[]> = {};
      for await (const m of input()) {
        if (!m.name.endsWith('.ndjson')) continue;
        kept[m.name] = [];
        for await (const l of m.lines({ encoding: 'buffer' })) kept[m.name]!.push(l);
      }
      const linksets = kept['linksets.ndjson']!;
      expect(linksets).toHaveLength(40_000);
      expect(linksets.every((l, i) => Buffer.isBuffer(l.raw) && l.line === i + 1)).toBe(true);
      const joined = Buffer.concat(linksets.flatMap((l) => [l.raw, Buffer.from('\n')]));
      expect(createHash('sha256').update(joined).digest('hex')).toBe(
        run('bash', ['-c', `tar -xOf '${file}' ./linksets.ndjson | sha256sum`]).split(' ')[0],
      );
      // The same line rules as the string form: BOM and CR dropped, blank lines skipped but counted.
      expect(kept['odd.ndjson']!.map((l) => [l.line, l.raw.toString('utf8')])).toEqual([
        [1, '{"a":1}'],
        [4, '{"b":"\u00e9"}'],
      ]);
      // No UTF-8 check: the bytes come out as stored, where the string form refuses them.
      expect(kept['bad-utf8.ndjson']!.map((l) => [...l.raw])).toEqual([[0x7b, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]]);
    }
    const strict = readDataset(file);
    await expect(
      (async () => {
        for await (const m of strict) if (m.name === 'bad-utf8.ndjson') for await (const batch of m.lineBatches()) void batch;
      })(),
    ).rejects.toMatchObject({ code: 'ENCODING_INVALID', context: { line: 1 } });
  });

  it('closes the file when the consumer breaks out early', async () => {
    const openOnFile = (): number =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === zst;
        } catch {
          return false;
        }
      }).length;
    const ds = readDataset(zst);
    for await (const m of ds) {
      for await (const r of m.records()) {
        void r;
        break;
      }
      break;
    }
    // The file is closed asynchronously; give a loaded machine time.
    for (let i = 0; openOnFile() > 0 && i < 100; i += 1) await new Promise((r) => setTimeout(r, 50));
    expect(openOnFile()).toBe(0);
    const stats = await ds.stats();
    expect(stats.isErr() && stats.error.code).toBe('ABORTED');
  });

  it('can be iterated only once', async () => {
    const ds = readDataset(zst);
    await readAll(ds);
    await expect(readAll(ds)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('stops with ABORTED when the signal fires', async () => {
    const controller = new AbortController();
    const ds = readDataset(zst, { signal: controller.signal });
    const e = await (async () => {
      try {
        for await (const m of ds) {
          controller.abort();
          for await (const r of m.records()) void r;
        }
      } catch (error) {
        return error as BackfillError;
      }
      return undefined;
    })();
    expect(e?.code).toBe('ABORTED');
  });
});

describe('readDataset refuses bad input with a coded error', () => {
  const good = join(dir, 'good.tar.zst');
  const ready = writeDataset(good, { members: { 'linksets.ndjson': generateLinksets(5000, 3) } });

  it('truncated zstd', async () => {
    await ready;
    const bytes = readFileSync(good);
    const cut = join(dir, 'cut.tar.zst');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(run('bash', ['-c', `zstd -t '${cut}' 2>&1 || true`])).toMatch(/truncat|error/i);
    expect((await failure(readDataset(cut))).code).toBe('COMPRESSION_TRUNCATED');
    // The same through a caller's Readable (decoded on the main thread).
    expect((await failure(readDataset(createReadStream(cut)))).code).toBe('COMPRESSION_TRUNCATED');
  });

  it('corrupt zstd (bytes flipped in the middle)', async () => {
    await ready;
    const bytes = Buffer.from(readFileSync(good));
    for (let i = 0; i < 8; i++) bytes[Math.floor(bytes.length / 2) + i]! ^= 0xff;
    const bad = join(dir, 'flipped.tar.zst');
    writeFileSync(bad, bytes);
    expect((await failure(readDataset(bad))).code).toMatch(/^(COMPRESSION_CORRUPT|TAR_CORRUPT|JSON_MALFORMED|ENCODING_INVALID)$/);
  });

  it('truncated gzip and truncated plain tar', async () => {
    const d = memberDir('trunc', { 'a.ndjson': lines(20000) }, { schemaVersion: 1, members: [{ name: 'a.ndjson', records: 20000 }] });
    const gz = join(dir, 't.tar.gz');
    const plain = join(dir, 't.tar');
    sh(
      `tar -C '${d}' -czf '${gz}.full' . && head -c 20000 '${gz}.full' > '${gz}' && tar -C '${d}' -cf '${plain}.full' . && head -c 300000 '${plain}.full' > '${plain}'`,
    );
    expect((await failure(readDataset(gz))).code).toBe('COMPRESSION_TRUNCATED');
    expect((await failure(readDataset(plain))).code).toBe('TAR_TRUNCATED');
  });

  it('a corrupt tar header', async () => {
    const d = memberDir('hdr', { 'a.ndjson': lines(10) }, { schemaVersion: 1, members: [{ name: 'a.ndjson', records: 10 }] });
    const file = join(dir, 'hdr.tar');
    sh(`tar -C '${d}' -cf '${file}' a.ndjson manifest.json`);
    const bytes = readFileSync(file);
    bytes.write('garbage!', 148, 'latin1'); // the header checksum field
    writeFileSync(file, bytes);
    expect((await failure(readDataset(file))).code).toBe('TAR_CORRUPT');
  });

  it('a malformed JSON line and a line that is not an object, naming member and line', async () => {
    const d = memberDir('badjson', { 'a.ndjson': `${lines(40)}{"_id": oops}\n`, 'b.ndjson': '{"_id":1}\n\n[1,2]\n' });
    sh(`tar -C '${d}' -cf '${join(dir, 'badjson-a.tar')}' a.ndjson && tar -C '${d}' -cf '${join(dir, 'badjson-b.tar')}' b.ndjson`);
    const a = await failure(readDataset(join(dir, 'badjson-a.tar')));
    expect([a.code, a.context.member, a.context.line]).toEqual(['JSON_MALFORMED', 'a.ndjson', 41]);
    expect(a.message).toMatch(/^a\.ndjson line 41:/);
    const b = await failure(readDataset(join(dir, 'badjson-b.tar')));
    expect([b.code, b.context.member, b.context.line]).toEqual(['RECORD_NOT_OBJECT', 'b.ndjson', 3]);
  });

  it('a duplicate member name', async () => {
    const d = memberDir('dup', { 'a.ndjson': lines(2) });
    const file = join(dir, 'dup.tar');
    sh(`tar -C '${d}' -cf '${file}' a.ndjson && tar -C '${d}' -rf '${file}' a.ndjson`);
    expect(run('tar', ['-tf', file])).toBe('a.ndjson\na.ndjson\n');
    const e = await failure(readDataset(file));
    expect([e.code, e.context.member]).toEqual(['MEMBER_DUPLICATE', 'a.ndjson']);
  });

  it.each([
    ['././a.ndjson', 'a.ndjson'],
    ['x//a.ndjson', 'x/./a.ndjson'],
  ])('two names GNU tar extracts to one file (%j, %j) are a duplicate member', async (first, second) => {
    const d = memberDir(`dup-${first.length}`, { 'a.ndjson': lines(1), 'b.ndjson': lines(2) });
    const file = join(dir, `dup-${first.length}.tar`);
    sh(`tar -C '${d}' --transform 's,^a.ndjson$,${first},;s,^b.ndjson$,${second},' -cf '${file}' a.ndjson b.ndjson`);
    expect(run('tar', ['-tf', file])).toBe(`${first}\n${second}\n`);
    // The oracle: extracting leaves one file, the second entry's.
    const out = join(dir, `dup-${first.length}-out`);
    sh(`mkdir -p '${out}' && tar -C '${out}' -xf '${file}'`);
    expect(sh(`find '${out}' -type f | wc -l`).trim()).toBe('1');
    // It used to read "./a.ndjson" beside "a.ndjson", and "x//a.ndjson" beside "x/./a.ndjson": two members, one file.
    const e = await failure(readDataset(file));
    expect(e.code).toBe('MEMBER_DUPLICATE');
  });

  it.each([
    ['a directory entry "a.ndjson/"', 'd', 's,^d$,a.ndjson,'],
    ['a directory entry "./a.ndjson/"', 'd', 's,^d$,./a.ndjson,'],
    ['an empty file entry "a.ndjson/" (an old-style directory)', 'empty', 's,^empty$,a.ndjson/,'],
  ])(
    'a member a.ndjson followed by %s: GNU tar -x replaces the file with an empty directory, so verify refuses it',
    async (label, entry, transform) => {
      const d = join(dir, `dir-over-file-${label.length}`);
      mkdirSync(join(d, 'd'), { recursive: true });
      writeFileSync(join(d, 'empty'), '');
      const file = join(d, 'dataset.tar');
      (await writeDataset(file, { members: { 'a.ndjson': [{ _id: 'a' }] }, compression: 'none' }))._unsafeUnwrap();
      sh(`tar -C '${d}' --no-recursion --transform '${transform}' -rf '${file}' ${entry}`);
      // The oracle: tar -x exits 0 and leaves an empty directory where the member was.
      const out = join(d, 'out');
      expect(
        sh(
          `mkdir -p '${out}' && tar -C '${out}' -xf '${file}'; echo "rc=$?"; find '${out}/a.ndjson' | wc -l; test -d '${out}/a.ndjson' && echo dir`,
        ),
      ).toBe('rc=0\n1\ndir\n');
      // It used to read a.ndjson's record and verify passed.
      const e = await failure(readDataset(file));
      expect([e.code, e.context.member]).toEqual(['MEMBER_DUPLICATE', 'a.ndjson']);
      expect(e.message).toMatch(/^the directory ".*a\.ndjson\/?" has the name of the file "a\.ndjson"/);
      const report = await verifyDataset(file);
      expect(report.isErr() && report.error.code).toBe('MEMBER_DUPLICATE');
    },
  );

  it('a directory entry before a file of its name, read the other way round, is refused too', async () => {
    const d = memberDir('file-over-dir', { 'a.ndjson': lines(1) });
    mkdirSync(join(d, 'd'), { recursive: true });
    const file = join(dir, 'file-over-dir.tar');
    sh(`tar -C '${d}' --no-recursion --transform 's,^d$,a.ndjson,' -cf '${file}' d && tar -C '${d}' -rf '${file}' a.ndjson`);
    expect(run('tar', ['-tf', file])).toBe('a.ndjson/\na.ndjson\n');
    const e = await failure(readDataset(file));
    expect([e.code, e.context.member, e.context.offset]).toEqual(['MEMBER_DUPLICATE', 'a.ndjson', 512]);
    expect(e.message).toContain('the file "a.ndjson" has the name of a directory (a.ndjson, made by "a.ndjson/")');
  });

  it.each([
    ['x', 'x/a.ndjson', 'Not a directory'],
    ['x/a.ndjson', 'x', 'File exists'],
  ])(
    'a member %j and then %j, a file where the other needs a directory: tar -x fails, so the reader refuses it',
    async (first, second, why) => {
      const d = join(dir, `file-as-parent-${first.length}`);
      // Two trees, one with a file x and one with a file x/a.ndjson, packed into one archive.
      mkdirSync(join(d, 'tree', 'x'), { recursive: true });
      mkdirSync(join(d, 'files'), { recursive: true });
      writeFileSync(join(d, 'tree', 'x', 'a.ndjson'), lines(1));
      writeFileSync(join(d, 'files', 'x'), lines(1));
      const from = (name: string): string => join(d, name === 'x' ? 'files' : 'tree');
      const file = join(d, 'both.tar');
      sh(`tar -C '${from(first)}' -cf '${file}' '${first}' && tar -C '${from(second)}' -rf '${file}' '${second}'`);
      expect(run('tar', ['-tf', file])).toBe(`${first}\n${second}\n`);
      // The oracle: GNU tar fails on the second entry.
      const out = join(d, 'out');
      expect(sh(`mkdir -p '${out}' && tar -C '${out}' -xf '${file}' 2>&1; echo "rc=$?"`)).toMatch(new RegExp(`${why}[\\s\\S]*rc=2\\n$`));
      // It used to read both members.
      const e = await failure(readDataset(file));
      expect([e.code, e.context.member, e.context.offset]).toEqual(['MEMBER_DUPLICATE', second, 1024]);
      expect(e.message).toMatch(/needs a directory x, where the file "x" is|has the name of a directory \(x, made by "x\/a\.ndjson"\)/);
    },
  );

  it.each(['../evil.ndjson', '/etc/passwd', 'a/../../b.ndjson', 'C:/win.ndjson'])('a hostile member path %j', async (name) => {
    const file = join(dir, `hostile-${Buffer.from(name).toString('hex')}.tar`);
    await craftTar(file, [{ header: { name, type: 'file' }, body: '{"_id":1}\n' }]);
    expect((await failure(readDataset(file))).code).toBe('MEMBER_PATH_UNSAFE');
  });

  it('symlink, hardlink and device members', async () => {
    const d = memberDir('links', { 'a.ndjson': lines(1) });
    sh(`cd '${d}' && ln -s a.ndjson sym.ndjson && ln a.ndjson hard.ndjson`);
    const sym = join(dir, 'sym.tar');
    const hard = join(dir, 'hard.tar');
    sh(`tar -C '${d}' -cf '${sym}' sym.ndjson && tar -C '${d}' -cf '${hard}' a.ndjson hard.ndjson`);
    expect((await failure(readDataset(sym))).code).toBe('MEMBER_TYPE_UNSUPPORTED');
    expect((await failure(readDataset(hard))).code).toBe('MEMBER_TYPE_UNSUPPORTED');
    const dev = join(dir, 'dev.tar');
    await craftTar(dev, [{ header: { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 } }]);
    expect((await failure(readDataset(dev))).code).toBe('MEMBER_TYPE_UNSUPPORTED');
  });

  it('a missing manifest and an invalid one', async () => {
    const d = memberDir('nomanifest', { 'a.ndjson': lines(2) });
    const none = join(dir, 'nomanifest.tar');
    sh(`tar -C '${d}' -cf '${none}' a.ndjson`);
    expect((await readDataset(none).manifest())._unsafeUnwrapErr().code).toBe('MANIFEST_MISSING');
    const invalid = [
      '{"schemaVersion":2,"members":[]}',
      '{"schemaVersion":1}',
      '{"schemaVersion":1,"members":[{"name":"a.ndjson"}]}',
      '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":-1}]}',
      '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"sha256":"xyz"}]}',
      '{"schemaVersion":1,"members":[{"name":"a","records":1},{"name":"a","records":1}]}',
      'not json',
    ];
    for (const [i, text] of invalid.entries()) {
      const file = join(dir, `badmanifest-${i}.tar`);
      await craftTar(file, [{ header: { name: 'manifest.json' }, body: text }]);
      const e = (await readDataset(file).manifest())._unsafeUnwrapErr();
      expect(e.code, text).toBe('MANIFEST_INVALID');
    }
  });

  it('a zstd bomb past maxDecompressedBytes', async () => {
    const file = join(dir, 'bomb.tar.zst');
    await craftTar(file, [{ header: { name: 'zeros.ndjson' }, body: Buffer.alloc(64 * 1024 * 1024, 0x20) }], true);
    expect(readFileSync(file).length).toBeLessThan(64 * 1024);
    const e = await failure(readDataset(file, { maxDecompressedBytes: 8 * 1024 * 1024 }));
    expect(e.code).toBe('SIZE_LIMIT_EXCEEDED');
    const viaStream = await failure(readDataset(createReadStream(file), { maxDecompressedBytes: 8 * 1024 * 1024 }));
    expect(viaStream.code).toBe('SIZE_LIMIT_EXCEEDED');
  });

  it('a line over maxLineBytes', async () => {
    const d = memberDir('longline', { 'a.ndjson': `{"_id":"${'x'.repeat(5000)}"}\n` });
    const file = join(dir, 'longline.tar');
    sh(`tar -C '${d}' -cf '${file}' a.ndjson`);
    const e = await failure(readDataset(file, { maxLineBytes: 1000 }));
    expect([e.code, e.context.line]).toEqual(['LINE_TOO_LONG', 1]);
  });

  it('something that is not an archive, an empty file, and a missing file', async () => {
    const junk = join(dir, 'junk.bin');
    writeFileSync(junk, Buffer.alloc(4096, 0x41));
    const empty = join(dir, 'empty.tar.zst');
    writeFileSync(empty, '');
    expect((await failure(readDataset(junk))).code).toBe('UNSUPPORTED_FORMAT');
    expect((await failure(readDataset(empty))).code).toBe('UNSUPPORTED_FORMAT');
    const missing = await failure(readDataset(join(dir, 'nope.tar.zst')));
    expect([missing.code, missing.context.path]).toEqual(['IO_ERROR', join(dir, 'nope.tar.zst')]);
  });

  it('gzip output of node:zlib reads the same as the gzip CLI', async () => {
    const d = memberDir('zgz', { 'a.ndjson': lines(100) }, { schemaVersion: 1, members: [{ name: 'a.ndjson', records: 100 }] });
    const tarFile = join(dir, 'zgz.tar');
    sh(`tar -C '${d}' -cf '${tarFile}' a.ndjson manifest.json`);
    const viaNode = join(dir, 'zgz-node.tar.gz');
    await pipeline(createReadStream(tarFile), createGzip(), createWriteStream(viaNode));
    expect(await readAll(readDataset(viaNode))).toEqual({ 'a.ndjson': 100 });
  });
});
