import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import fc from 'fast-check';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { BackfillError } from '../../../src/errors.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { run, sh, tempDir } from '../../support/tmp.js';

/**
 * File and stream inputs run the same tar parser in different places (worker
 * threads for a path, the main thread for a Readable). These tests read the
 * same bytes both ways and require the same members, bytes, hashes and
 * errors, and compare what exists with GNU tar.
 */
const dir = tempDir('bk-parity-');

/** Everything a read produced: each member's name, size and digests (of the bytes handed out, and as reported), or the error. */
interface Outcome {
  readonly members: { name: string; bytes: number; handedOut: string; reported: string }[];
  readonly error?: { code: string; offset: unknown; member: unknown };
}

async function outcome(input: string | Readable): Promise<Outcome> {
  const ds = readDataset(input);
  const members: Outcome['members'] = [];
  const handedOut: { name: string; bytes: number; handedOut: string }[] = [];
  try {
    for await (const member of ds) {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of member.chunks()) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      handedOut.push({ name: member.name, bytes, handedOut: hash.digest('hex') });
    }
  } catch (e) {
    if (!(e instanceof BackfillError)) throw e;
    return {
      members: handedOut.map((m) => ({ ...m, reported: '' })),
      error: { code: e.code, offset: e.context.offset, member: e.context.member },
    };
  }
  const stats = (await ds.stats())._unsafeUnwrap();
  for (const [i, m] of handedOut.entries()) members.push({ ...m, reported: stats.members[i]!.sha256 });
  expect(stats.members.map((m) => [m.name, m.bytes])).toEqual(handedOut.map((m) => [m.name, m.bytes]));
  return { members };
}

/** Packs entries with tar-stream into one buffer. */
async function packTar(
  entries: { header: tar.Header | { name: string; type?: tar.Header['type'] }; body?: Buffer | string }[],
): Promise<Buffer> {
  const pack = tar.pack();
  const collected = (async () => {
    const parts: Buffer[] = [];
    for await (const chunk of pack as AsyncIterable<Buffer>) parts.push(chunk);
    return Buffer.concat(parts);
  })();
  for (const e of entries) pack.entry(e.header as tar.Header, e.body ?? '');
  pack.finalize();
  return collected;
}

/** Feeds `bytes` as a stream in pieces of the given sizes (then the rest), to move chunk boundaries around. */
function streamOf(bytes: Buffer, pieces: readonly number[] = [65536]): Readable {
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const n = Math.max(1, pieces[i % pieces.length]!);
    parts.push(bytes.subarray(at, at + n));
    at += n;
  }
  return Readable.from(parts);
}

/** Reads `file` both ways and requires the same outcome; returns it. */
async function parity(file: string, pieces?: readonly number[]): Promise<Outcome> {
  const fromFile = await outcome(file);
  const fromStream = await outcome(streamOf(readFileSync(file), pieces));
  expect(fromStream).toEqual(fromFile);
  for (const m of fromFile.members) expect(m.reported || m.handedOut).toBe(m.handedOut);
  return fromFile;
}

/** What GNU tar lists as regular files, and each one's SHA-256 as `tar -xO` extracts it. */
function gnuMembers(file: string): { name: string; sha256: string }[] {
  const listed = run('tar', ['-tf', file])
    .split('\n')
    .filter((n) => n !== '' && !n.endsWith('/'));
  return listed.map((name) => ({ name, sha256: run('bash', ['-c', `tar -xOf '${file}' '${name}' | sha256sum`]).split(' ')[0]! }));
}

/** What GNU tar -x makes of `file`: its exit code, then the paths it leaves in name order (directories with a "/"). */
function gnuExtracts(file: string): string {
  const out = `${file}.out`;
  return sh(
    `rm -rf '${out}' && mkdir '${out}' && cd '${out}' && { tar -xf '${file}' 2>/dev/null; echo "rc=$?"; } && find . -mindepth 1 \\( -type d -printf '%P/\\n' -o -printf '%P\\n' \\) | LC_ALL=C sort`,
  )
    .trim()
    .replaceAll('\n', ' ');
}

// The hostile corpus: raw headers written by our own Python helper (tarfile
// for the PAX and GNU formats, hand-packed blocks for what tarfile won't write).
const CORPUS_SCRIPT = String.raw`
import io, sys, tarfile, os
out = sys.argv[1]

def block(name, typ, size, magic=b'ustar\x0000', prefix=b'', linkname=b'', uid=b'0000000\0', mtime=b'00000000000\0'):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b'0000644\0'
    h[108:116] = uid
    h[116:124] = b'0000000\0'
    h[124:136] = (b'%011o' % size) + b'\0'
    h[136:148] = mtime
    h[156:157] = typ
    h[157:157 + len(linkname)] = linkname
    h[257:265] = magic
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b'        '
    h[148:156] = (b'%06o' % sum(h)) + b'\0 '
    return bytes(h)

def entry(name, typ, data=b'', **kw):
    pad = (512 - len(data) % 512) % 512
    return block(name, typ, len(data), **kw) + data + bytes(pad)

def pax(records, typ=b'x', name=b'PaxHeader'):
    body = b''
    for k, v in records:
        rec = k + b'=' + v + b'\n'
        n = len(rec) + 2
        while len(b'%d ' % n + rec) != n:
            n = len(b'%d ' % n + rec)
        body += b'%d ' % n + rec
    return entry(name, typ, body)

END = bytes(1024)
good = b'{"_id":"a"}\n'
hidden = b'{"_id":"hidden"}\n'
cases = {
  'n-before-regular': entry(b'a.ndjson', b'N', hidden) + entry(b'a.ndjson', b'0', good) + END,
  'volume-label': entry(b'label', b'V') + entry(b'a.ndjson', b'0', good) + END,
  'multivolume': entry(b'a.ndjson', b'M', good) + END,
  'sparse': entry(b'a.ndjson', b'S', good) + END,
  'vendor-letter': entry(b'a.ndjson', b'0', good) + entry(b'b.ndjson', b'Q', hidden) + END,
  'long-link-name': entry(b'././@LongLink', b'K', b'target\0') + entry(b'a.ndjson', b'0', good) + END,
  'pax-for-symlink': pax([(b'linkpath', b'x' * 120)]) + entry(b'a.ndjson', b'2', linkname=b'x') + END,
  'pax-sparse-keys': pax([(b'GNU.sparse.major', b'1'), (b'GNU.sparse.minor', b'0'), (b'GNU.sparse.name', b'a.ndjson')]) + entry(b'GNUSparseFile.0/a.ndjson', b'0', good) + END,
  'global-pax-size': pax([(b'size', b'5')], typ=b'g') + entry(b'a.ndjson', b'0', good) + END,
  'global-pax-comment': pax([(b'comment', b'hi')], typ=b'g') + entry(b'a.ndjson', b'0', good) + END,
  'pax-size-wins': pax([(b'size', b'%d' % len(hidden + good))]) + block(b'a.ndjson', b'0', 3) + hidden + good + bytes((512 - len(hidden + good) % 512) % 512) + END,
  'pax-path-twice': pax([(b'path', b'one.ndjson')]) + pax([(b'path', b'two.ndjson')]) + entry(b'a.ndjson', b'0', good) + END,
  'pax-two-headers-path': pax([(b'path', b'one.ndjson')]) + pax([(b'mtime', b'1')]) + entry(b'a.ndjson', b'0', good) + END,
  'pax-two-headers-size': pax([(b'size', b'%d' % len(hidden))]) + pax([(b'mtime', b'1')]) + block(b'a.ndjson', b'0', len(hidden + good)) + hidden + good + bytes((512 - len(hidden + good) % 512) % 512) + END,
  'pax-then-end': entry(b'a.ndjson', b'0', good) + pax([(b'path', b'b.ndjson')]) + END,
  'pax-keyword-nul-size': pax([(b'size\0x', b'5')]) + entry(b'a.ndjson', b'0', good) + END,
  'pax-keyword-nul-path': pax([(b'path\0x', b'b.ndjson')]) + entry(b'a.ndjson', b'0', good) + END,
  'pax-keyword-blank-path': pax([(b' path', b'b.ndjson')]) + entry(b'a.ndjson', b'0', good) + END,
  'pax-keyword-tab-size': pax([(b'\tsize', b'%d' % len(hidden))]) + block(b'a.ndjson', b'0', len(hidden + good)) + hidden + good + bytes((512 - len(hidden + good) % 512) % 512) + END,
  'pax-length-short': entry(b'PaxHeader', b'x', b'9 mtime=1\n\n') + entry(b'a.ndjson', b'0', good) + END,
  'pax-length-long': entry(b'PaxHeader', b'x', b'30 mtime=1\n') + entry(b'a.ndjson', b'0', good) + END,
  'pax-bad-metadata': pax([(b'mtime', b'abc'), (b'uid', b'9' * 30), (b'atime', b'zz')]) + entry(b'a.ndjson', b'0', good) + END,
  'ustar-bad-metadata': entry(b'a.ndjson', b'0', good, uid=b'zzzzzzz\0', mtime=b'-0000000001\0') + END,
  'lone-zero-block': entry(b'a.ndjson', b'0', good) + bytes(512) + entry(b'b.ndjson', b'0', hidden) + END,
  'junk-after-end': entry(b'a.ndjson', b'0', good) + END + b'not a tar block at all' * 100,
  'no-end-blocks': entry(b'a.ndjson', b'0', good),
  'bad-checksum': entry(b'a.ndjson', b'0', good)[:148] + b'0000001\0' + entry(b'a.ndjson', b'0', good)[156:] + END,
  'hard-link': entry(b'a.ndjson', b'0', good) + entry(b'b.ndjson', b'1', linkname=b'a.ndjson') + END,
  'fifo': entry(b'a.ndjson', b'0', good) + entry(b'p', b'6') + END,
  'v7-second': entry(b'a.ndjson', b'0', good) + entry(b'b.ndjson', b'\0', hidden, magic=bytes(8)) + END,
  'ustar-prefix': entry(b'a.ndjson', b'0', good, prefix=b'dir/sub') + END,
  'gnu-magic-ignores-prefix': entry(b'a.ndjson', b'0', good, magic=b'ustar  \0', prefix=b'junk') + END,
  'directory': entry(b'dir/', b'5') + entry(b'dir/a.ndjson', b'0', good) + END,
  'file-named-like-a-directory': entry(b'linksets.ndjson/', b'0', good) + END,
  'old-style-directory': entry(b'dir/', b'0') + entry(b'dir/a.ndjson', b'0', good) + END,
  'sized-directory': block(b'd/', b'5', 1024) + entry(b'hidden.ndjson', b'0', hidden) + entry(b'a.ndjson', b'0', good) + END,
  'pax-sized-directory': pax([(b'size', b'1024')]) + entry(b'd/', b'5') + entry(b'hidden.ndjson', b'0', hidden) + entry(b'a.ndjson', b'0', good) + END,
  'directory-over-file': entry(b'a.ndjson', b'0', good) + entry(b'a.ndjson/', b'5') + END,
  'dot-directory-over-file': entry(b'a.ndjson', b'0', good) + entry(b'./a.ndjson/', b'5') + END,
  'file-over-directory': entry(b'a.ndjson/', b'5') + entry(b'a.ndjson', b'0', good) + END,
  'file-as-parent': entry(b'x', b'0', good) + entry(b'x/a.ndjson', b'0', good) + END,
  'parent-as-file': entry(b'x/a.ndjson', b'0', good) + entry(b'x', b'0', good) + END,
  'file-as-parent-directory': entry(b'x', b'0', good) + entry(b'x/y/', b'5') + END,
  'truncated-data': entry(b'a.ndjson', b'0', good * 100)[:1024],
  'truncated-header': entry(b'a.ndjson', b'0', good)[:1024] + bytes(100),
}
for fmt, name in ((tarfile.GNU_FORMAT, 'tarfile-gnu-long'), (tarfile.PAX_FORMAT, 'tarfile-pax-long')):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=fmt) as t:
        for n, data in (('d' * 120 + '/' + 'n' * 110 + '.ndjson', good), ('short.ndjson', hidden)):
            info = tarfile.TarInfo(n)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    cases[name] = buf.getvalue()
for name, data in cases.items():
    with open(os.path.join(out, name + '.tar'), 'wb') as f:
        f.write(data)
print('\n'.join(cases))
`;

function buildCorpus(): string[] {
  const script = join(dir, 'corpus.py');
  writeFileSync(script, CORPUS_SCRIPT);
  return run('python3', [script, dir]).trim().split('\n');
}

/** How each corpus archive must be read: its members, or the error code and the tar offset it names. */
const EXPECTED: Record<string, { members: string[] } | { code: string; offset: number; gnu?: string }> = {
  'n-before-regular': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  'volume-label': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  multivolume: { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  sparse: { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  'vendor-letter': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 1024 },
  'long-link-name': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  'pax-for-symlink': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 1024 },
  'pax-sparse-keys': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  'global-pax-size': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  'global-pax-comment': { members: ['a.ndjson'] },
  'pax-size-wins': { members: ['a.ndjson'] },
  'pax-path-twice': { code: 'TAR_CORRUPT', offset: 1024 },
  // GNU tar reads only the second PAX header (the member keeps its header's name and size); other readers merge the two.
  'pax-two-headers-path': { code: 'TAR_CORRUPT', offset: 1024, gnu: 'rc=0 a.ndjson' },
  'pax-two-headers-size': { code: 'TAR_CORRUPT', offset: 1024, gnu: 'rc=0 a.ndjson' },
  'pax-then-end': { code: 'TAR_CORRUPT', offset: 1024 },
  // GNU tar fails on a keyword holding a NUL ("missing equal sign"); one stopping the keyword at the NUL would read a size or a name.
  'pax-keyword-nul-size': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=2 a.ndjson' },
  'pax-keyword-nul-path': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=2 a.ndjson' },
  // GNU tar skips blanks after the length and reads a path or a size (another name, other bytes); a reader skipping one space reads an unknown keyword.
  'pax-keyword-blank-path': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=0 b.ndjson' },
  'pax-keyword-tab-size': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=0 a.ndjson' },
  // A record whose length field does not end it at a newline inside the header.
  'pax-length-short': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=2 a.ndjson' },
  'pax-length-long': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=2 a.ndjson' },
  'lone-zero-block': { members: ['a.ndjson'] },
  'junk-after-end': { members: ['a.ndjson'] },
  'no-end-blocks': { members: ['a.ndjson'] },
  'bad-checksum': { code: 'TAR_CORRUPT', offset: 0 },
  'hard-link': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 1024 },
  fifo: { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 1024 },
  'v7-second': { members: ['a.ndjson', 'b.ndjson'] },
  'ustar-prefix': { members: ['dir/sub/a.ndjson'] },
  // GNU tar ignores the prefix field of a GNU header; Python's tarfile reads junk/a.ndjson: two names for one member.
  'gnu-magic-ignores-prefix': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=0 a.ndjson' },
  // GNU tar complains about the uid and mtime and extracts the member; Python's tarfile cannot read the uid, and after
  // the first header it would take such a header for the end of the archive, silently.
  'ustar-bad-metadata': { code: 'TAR_CORRUPT', offset: 0, gnu: 'rc=2 a.ndjson' },
  directory: { members: ['dir/a.ndjson'] },
  // GNU tar extracts it as an empty directory, drops its data and fails: the reader refuses it (it used to read it as data).
  'file-named-like-a-directory': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0 },
  // Empty, it is how old tars wrote a directory, and GNU tar makes one.
  'old-style-directory': { members: ['dir/a.ndjson'] },
  // GNU tar ignores a directory's size and extracts what follows as entries (hidden.ndjson, which a reader skipping the "data" never sees).
  'sized-directory': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 0, gnu: 'rc=0 a.ndjson d/ hidden.ndjson' },
  'pax-sized-directory': { code: 'MEMBER_TYPE_UNSUPPORTED', offset: 1024, gnu: 'rc=0 a.ndjson d/ hidden.ndjson' },
  // A directory named like a file member: tar -x replaces one with the other.
  'directory-over-file': { code: 'MEMBER_DUPLICATE', offset: 1024, gnu: 'rc=0 a.ndjson/' },
  'dot-directory-over-file': { code: 'MEMBER_DUPLICATE', offset: 1024, gnu: 'rc=0 a.ndjson/' },
  'file-over-directory': { code: 'MEMBER_DUPLICATE', offset: 512, gnu: 'rc=0 a.ndjson' },
  // A file where another entry needs a directory: tar -x fails.
  'file-as-parent': { code: 'MEMBER_DUPLICATE', offset: 1024, gnu: 'rc=2 x' },
  'parent-as-file': { code: 'MEMBER_DUPLICATE', offset: 1024, gnu: 'rc=2 x/ x/a.ndjson' },
  'file-as-parent-directory': { code: 'MEMBER_DUPLICATE', offset: 1024, gnu: 'rc=2 x' },
  'truncated-data': { code: 'TAR_TRUNCATED', offset: 1024 },
  'truncated-header': { code: 'TAR_TRUNCATED', offset: 1124 },
  'tarfile-gnu-long': { members: [`${'d'.repeat(120)}/${'n'.repeat(110)}.ndjson`, 'short.ndjson'] },
  'tarfile-pax-long': { members: [`${'d'.repeat(120)}/${'n'.repeat(110)}.ndjson`, 'short.ndjson'] },
};

/**
 * Members read as GNU tar extracts them, though tar exits 2: invalid values the reader does not use are
 * ignored alike, whether a PAX record or the header's own field holds them.
 */
const METADATA_ONLY: Record<string, string[]> = { 'pax-bad-metadata': ['a.ndjson'] };

describe('one tar parser: a path and a stream of the same bytes read the same', () => {
  it('hostile headers: refused with the same code and offset both ways, or read as GNU tar reads them', async () => {
    const names = buildCorpus();
    expect(names.sort()).toEqual([...Object.keys(EXPECTED), ...Object.keys(METADATA_ONLY)].sort());
    for (const name of names) {
      const file = join(dir, `${name}.tar`);
      const metadataOnly = METADATA_ONLY[name];
      if (metadataOnly !== undefined) {
        const got = await parity(file, [1, 511, 700, 3]);
        expect({ name, error: got.error }).toEqual({ name, error: undefined });
        expect(got.members.map((m) => m.name)).toEqual(metadataOnly);
        // GNU tar complains about the mtime, uid or atime (exit 2) but extracts the same bytes under the same name.
        expect({ name, gnu: gnuExtracts(file) }).toEqual({ name, gnu: `rc=2 ${metadataOnly.join(' ')}` });
        for (const m of got.members)
          expect(sh(`tar -xOf '${file}' '${m.name}' 2>/dev/null | sha256sum || true`).split(' ')[0]).toBe(m.handedOut);
        continue;
      }
      const expected = EXPECTED[name]!;
      // Odd stream pieces put chunk boundaries inside headers and PAX records.
      const got = await parity(file, [1, 511, 700, 3]);
      if ('code' in expected) {
        const { gnu, ...refused } = expected;
        expect({ name, code: got.error?.code, offset: got.error?.offset }).toEqual({ name, ...refused });
        // Why it is refused: what GNU tar -x makes of it.
        if (gnu !== undefined) expect({ name, gnu: gnuExtracts(file) }).toEqual({ name, gnu });
        continue;
      }
      expect({ name, error: got.error }).toEqual({ name, error: undefined });
      expect(got.members.map((m) => m.name)).toEqual(expected.members);
      // What exists, and its bytes, as GNU tar sees them.
      expect({ name, members: got.members.map((m) => ({ name: m.name, sha256: m.handedOut })) }).toEqual({
        name,
        members: gnuMembers(file),
      });
    }
  }, 600_000);

  it('verifyDataset refuses a manifest that hashes a GNU N entry standing before the member it names', async () => {
    // The manifest lists a.ndjson with the digest of the N entry's data; the bytes a loader would get are other bytes.
    const hidden = Buffer.from('{"_id":"hidden"}\n');
    const loaded = Buffer.from('{"_id":"loaded"}\n');
    const manifest = JSON.stringify({
      schemaVersion: 1,
      members: [{ name: 'a.ndjson', records: 1, bytes: hidden.length, sha256: createHash('sha256').update(hidden).digest('hex') }],
    });
    const file = join(dir, 'n-entry.tar');
    const bytes = await packTar([
      { header: { name: 'manifest.json' }, body: manifest },
      { header: { name: 'a.ndjson' }, body: hidden },
      { header: { name: 'a.ndjson' }, body: loaded },
    ]);
    // Turn the second header into a GNU 'N' entry (type byte 156), fixing its checksum.
    const n = Buffer.byteLength(manifest) <= 512 ? 1024 : 512 + Math.ceil(Buffer.byteLength(manifest) / 512) * 512;
    bytes[n + 156] = 'N'.charCodeAt(0);
    bytes.fill(0x20, n + 148, n + 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += bytes[n + i]!;
    bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, n + 148, 'latin1');
    writeFileSync(file, bytes);
    // GNU tar lists both entries under the same name.
    expect(run('tar', ['-tf', file])).toBe('manifest.json\na.ndjson\na.ndjson\n');
    const report = await verifyDataset(file);
    expect(report.isErr()).toBe(true);
    expect(report._unsafeUnwrapErr().code).toBe('MEMBER_TYPE_UNSUPPORTED');
    expect(report._unsafeUnwrapErr().context.offset).toBe(n);
  });

  it('refuses a file entry named "linksets.ndjson/", which GNU tar extracts as an empty directory, both ways and in verifyDataset', async () => {
    const src = join(dir, 'slash-src');
    sh(`mkdir -p '${src}'`);
    writeFileSync(join(src, 'manifest.json'), JSON.stringify({ schemaVersion: 1, members: [{ name: 'linksets.ndjson', records: 1 }] }));
    writeFileSync(join(src, 'x'), '{"_id":"a"}\n');
    const file = join(dir, 'slash.tar');
    run('tar', ['-C', src, '--transform', 's,^x$,linksets.ndjson/,', '-cf', file, 'manifest.json', 'x']);
    // The oracle: GNU tar lists a directory, and extracting makes an empty one, drops the data and fails.
    expect(run('tar', ['-tvf', file])).toMatch(/^d.* linksets\.ndjson\/$/m);
    const out = join(dir, 'slash-out');
    expect(
      sh(`mkdir -p '${out}' && { tar -C '${out}' -xf '${file}' 2>/dev/null; echo $?; } && find '${out}/linksets.ndjson' -type f | wc -l`),
    ).toBe('2\n0\n');
    // It used to hand out the entry's data as member "linksets.ndjson/", with 1 record.
    const got = await parity(file);
    expect(got.error).toEqual({ code: 'MEMBER_TYPE_UNSUPPORTED', offset: 1024, member: 'linksets.ndjson/' });
    expect((await verifyDataset(file))._unsafeUnwrapErr().code).toBe('MEMBER_TYPE_UNSUPPORTED');
  });

  it("an empty archive (GNU tar's, only end-of-archive blocks) has no members, read both ways in any piece size", async () => {
    const file = join(dir, 'empty.tar');
    run('tar', ['-cf', file, '-T', '/dev/null']);
    expect(run('tar', ['-tf', file])).toBe('');
    for (const pieces of [undefined, [1], [100, 7]]) {
      const got = await parity(file, pieces);
      expect(got.error).toBeUndefined();
      expect(got.members).toEqual([]);
    }
  });

  it('generated archives: same names, bytes, hashes and errors both ways, and the members GNU tar lists', async () => {
    const member = fc.record({
      // Long names go through PAX headers; directories are skipped by the reader.
      name: fc.oneof(fc.stringMatching(/^[a-z0-9_][a-z0-9_.-]{0,19}$/), fc.stringMatching(/^[a-z]{60,90}\/[a-z]{40,80}$/)),
      size: fc.oneof(fc.constantFrom(0, 1, 511, 512, 513, 1024), fc.integer({ min: 0, max: 3000 })),
      seed: fc.integer({ min: 0, max: 255 }),
      withDirectory: fc.boolean(),
    });
    const archive = fc.record({
      members: fc.uniqueArray(member, { minLength: 0, maxLength: 6, selector: (m) => m.name }),
      compression: fc.constantFrom('none', 'gzip', 'zstd'),
      pieces: fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 4 }),
      // Flip one byte somewhere in the archive (or not), to compare the errors too.
      flip: fc.option(fc.nat(), { nil: undefined }),
    });
    let i = 0;
    await fc.assert(
      fc.asyncProperty(archive, async ({ members, compression, pieces, flip }) => {
        const file = join(dir, `gen-${i++}.tar`);
        const tarBytes = await packTar(
          members.flatMap((m) => [
            ...(m.withDirectory ? [{ header: { name: `dir-${m.seed}/`, type: 'directory' as const } }] : []),
            { header: { name: m.name }, body: Buffer.alloc(m.size, (m.seed % 94) + 33) },
          ]),
        );
        if (flip !== undefined && tarBytes.length > 0) tarBytes[flip % tarBytes.length]! ^= 0x5a;
        const stored = compression === 'gzip' ? gzipSync(tarBytes) : compression === 'zstd' ? zstdCompressSync(tarBytes) : tarBytes;
        writeFileSync(file, stored);
        const got = await parity(file, pieces);
        if (flip === undefined) {
          expect(got.error).toBeUndefined();
          writeFileSync(`${file}.plain`, tarBytes);
          expect(got.members.map((m) => ({ name: m.name, sha256: m.handedOut }))).toEqual(gnuMembers(`${file}.plain`));
        }
      }),
      { numRuns: 30 },
    );
  }, 600_000);
});

describe('bombs and the end of the archive', () => {
  it('a small gzip of 256 MiB of zeros: the first zero block ends the archive, and the rest still meets the bomb limits', async () => {
    const file = join(dir, 'zeros.tar.gz');
    sh(`head -c 268435456 /dev/zero | gzip -1 > '${file}'`);
    expect(readFileSync(file).length).toBeLessThan(2 * 1024 * 1024);
    // The rest of the gzip stream is decoded to check its CRC: 256 MiB from under 2 MiB is a bomb.
    for (const input of [file, streamOf(readFileSync(file))]) {
      expect((await readDataset(input).scan())._unsafeUnwrapErr().code).toBe('SIZE_LIMIT_EXCEEDED');
    }
    for (const input of [file, streamOf(readFileSync(file))]) {
      const ds = readDataset(input, { maxCompressionRatio: Infinity });
      for await (const m of ds) void m;
      const stats = (await ds.stats())._unsafeUnwrap();
      expect([stats.members.length, stats.tarBytes]).toEqual([0, 0]);
      expect((await ds.manifest())._unsafeUnwrapErr().code).toBe('MANIFEST_MISSING');
    }
  }, 300_000);

  it('refuses a member that inflates past the compression ratio, from a path and a stream alike', async () => {
    const file = join(dir, 'newlines.tar.zst');
    // 100 MiB of blank lines: every byte valid, a bomb only by its ratio.
    sh(
      `mkdir -p '${dir}/nl' && head -c 104857600 /dev/zero | tr '\\0' '\\n' > '${dir}/nl/a.ndjson' && tar -C '${dir}/nl' -cf - a.ndjson | zstd -q -o '${file}' -f && rm -r '${dir}/nl'`,
    );
    const got = await parity(file);
    expect(got.error?.code).toBe('SIZE_LIMIT_EXCEEDED');
    const allowed = readDataset(file, { maxCompressionRatio: Infinity });
    for await (const m of allowed) void m;
    expect((await allowed.stats())._unsafeUnwrap().members[0]!.records).toBe(0);
  }, 300_000);

  it('reads zstd that starts with a skippable frame, as pzstd writes it', async () => {
    const src = join(dir, 'skip.tar.zst');
    await writeDataset(src, { members: { 'a.ndjson': [{ _id: 1 }, { _id: 2 }] } });
    const skippable = Buffer.alloc(12);
    skippable.writeUInt32LE(0x184d2a50, 0);
    skippable.writeUInt32LE(4, 4);
    skippable.writeUInt32LE(1234, 8);
    const file = join(dir, 'skip-first.tar.zst');
    writeFileSync(file, Buffer.concat([skippable, readFileSync(src), skippable]));
    expect(run('bash', ['-c', `zstd -t '${file}' 2>&1 && echo ok`])).toMatch(/ok/);
    const got = await parity(file);
    expect(got.members.map((m) => m.name)).toEqual(['manifest.json', 'a.ndjson']);
  });
});
