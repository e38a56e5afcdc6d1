import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset, type MemberSource } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { run, sh, tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-write-');
/** A Node 22 binary to compare output with (CI sets it); the suite itself runs on Node 24. */
const NODE22 = process.env.BACKFILL_KIT_NODE22;

function sha256sum(file: string): string {
  return run('sha256sum', [file]).split(' ')[0]!;
}

describe('writeDataset', () => {
  const members = () => ({
    'linksets.ndjson': generateLinksets(340, 7),
    'advisory_chunks.ndjson': generateAdvisoryChunks(1200, 42),
  });

  it('writes a tarball GNU tar lists and extracts cleanly, manifest first, with fixed metadata', async () => {
    const file = join(dir, 'linksets-stage-backfill.tar.zst');
    const written = (await writeDataset(file, { members: members() }))._unsafeUnwrap();
    expect(written.sha256).toBe(sha256sum(file));
    expect(written.bytes).toBe(readFileSync(file).length);

    const listing = run('tar', ['--zstd', '--numeric-owner', '--full-time', '--utc', '-tvf', file]).trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).pop())).toEqual(['manifest.json', 'advisory_chunks.ndjson', 'linksets.ndjson']);
    for (const line of listing) expect(line).toMatch(/^-rw-r--r-- 0\/0\s+\d+ 1970-01-01 00:00:00 /);

    const out = join(dir, 'extracted');
    sh(`mkdir -p '${out}' && tar --zstd -xf '${file}' -C '${out}'`);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toEqual(written.manifest);
    for (const m of manifest.members) {
      expect(sha256sum(join(out, m.name))).toBe(m.sha256);
      expect(Number(run('wc', ['-c', join(out, m.name)]).split(' ')[0])).toBe(m.bytes);
      expect(Number(run('wc', ['-l', join(out, m.name)]).split(' ')[0])).toBe(m.records);
    }
    expect(manifest.members.map((m: { name: string; records: number }) => [m.name, m.records])).toEqual([
      ['advisory_chunks.ndjson', 1200],
      ['linksets.ndjson', 340],
    ]);
    // jq (an independent JSON parser) reads every line back.
    expect(Number(sh(`jq -c . '${join(out, 'linksets.ndjson')}' | wc -l`).trim())).toBe(340);
  });

  it('is byte-for-byte deterministic, and honours SOURCE_DATE_EPOCH', async () => {
    const a = join(dir, 'a.tar.zst');
    const b = join(dir, 'b.tar.zst');
    await writeDataset(a, { members: members(), name: 'same' });
    await writeDataset(b, { members: members(), name: 'same' });
    expect(sha256sum(a)).toBe(sha256sum(b));

    process.env.SOURCE_DATE_EPOCH = '1733581485';
    try {
      const c = join(dir, 'c.tar.zst');
      const written = (await writeDataset(c, { members: { 'x.ndjson': [{ _id: 1 }] } }))._unsafeUnwrap();
      expect(written.manifest.createdAt).toBe('2024-12-07T14:24:45Z');
      expect(run('tar', ['--zstd', '--full-time', '--utc', '-tvf', c])).toContain('2024-12-07 14:24:45');
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
    }
  });

  it('writes gzip and plain tar that GNU tar reads', async () => {
    for (const [compression, flag] of [
      ['gzip', '-z'],
      ['none', ''],
    ] as const) {
      const file = join(dir, `plain-${compression}.tar`);
      await writeDataset(file, { members: { 'x.ndjson': [{ _id: 'a' }, { _id: 'b' }] }, compression });
      expect(run('bash', ['-c', `tar ${flag} -xOf '${file}' x.ndjson`])).toBe('{"_id":"a"}\n{"_id":"b"}\n');
    }
  });

  it('accepts async iterables and ready-made lines, and round-trips through readDataset', async () => {
    async function* gen() {
      yield { _id: 'a', s: 'tab\there "q" \\ é 🚀' };
      yield '{"_id":"b"}';
    }
    const file = join(dir, 'async.tar.zst');
    await writeDataset(file, { members: { 'x.ndjson': gen() } });
    const ds = readDataset(file);
    const seen: unknown[] = [];
    for await (const m of ds) if (m.name === 'x.ndjson') for await (const r of m.records()) seen.push(r.value);
    expect(seen).toEqual([{ _id: 'a', s: 'tab\there "q" \\ é 🚀' }, { _id: 'b' }]);
  });

  it('writes zstd as 4 MiB frames that the zstd CLI and GNU tar read, and readDataset reads back every record', async () => {
    const file = join(dir, 'frames.tar.zst');
    const records = 60_000;
    const written = (await writeDataset(file, { members: { 'big.ndjson': generateAdvisoryChunks(records, 5) } }))._unsafeUnwrap();
    const member = written.manifest.members[0]!;
    expect(member.bytes).toBeGreaterThan(2 * 4 * 1024 * 1024);
    const frames = Number(/Zstandard Frames: (\d+)/.exec(run('zstd', ['-lv', file]))?.[1]);
    expect(frames).toBeGreaterThanOrEqual(3);
    expect(sh(`tar --zstd -xOf '${file}' big.ndjson | sha256sum`).split(' ')[0]).toBe(member.sha256);
    let seen = 0;
    for await (const m of readDataset(file)) if (m.name === 'big.ndjson') for await (const batch of m.recordBatches()) seen += batch.length;
    expect(seen).toBe(records);
  });

  it('refuses a compression level the library does not have, instead of letting zstd clamp it', async () => {
    for (const [compression, level] of [
      ['zstd', 23],
      ['zstd', 0],
      ['zstd', -5],
      ['gzip', 10],
      ['zstd', 2.5],
      ['none', 3],
    ] as const) {
      const file = join(dir, `level-${compression}-${level}.tar`);
      const r = await writeDataset(file, { compression, level, members: { 'a.ndjson': [{ _id: 1 }] } });
      expect(r.isErr() && r.error.code, `${compression} ${level}`).toBe('INVALID_ARGUMENT');
      expect(existsSync(file)).toBe(false);
    }
    const ok = await writeDataset(join(dir, 'level-22.tar.zst'), { level: 22, members: { 'a.ndjson': [{ _id: 1 }] } });
    expect(ok.isOk()).toBe(true);
  });

  it('leaves an existing file untouched when a member source fails', async () => {
    const file = join(dir, 'keep.tar.zst');
    writeFileSync(file, 'previous contents');
    function* broken() {
      yield { _id: 1 };
      throw new Error('source failed');
    }
    const r = await writeDataset(file, { members: { 'x.ndjson': broken() } });
    expect(r.isErr()).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('previous contents');
    expect(run('ls', ['-a', dir])).not.toContain('.keep.tar.zst.tmp-');
  });

  it('refuses unsafe member names and a manifest.json member', async () => {
    for (const name of ['../evil.ndjson', '/abs.ndjson', 'manifest.json']) {
      const r = await writeDataset(join(dir, 'bad.tar.zst'), { members: { [name]: [] } });
      expect(r.isErr() && r.error.code).toMatch(/MEMBER_PATH_UNSAFE|INVALID_ARGUMENT/);
    }
  });

  it('refuses two member names that are one member once normalised (./a.ndjson, a.ndjson), writing nothing', async () => {
    // It used to succeed, with a.ndjson listed twice in the manifest and an archive its own reader refused (MEMBER_DUPLICATE).
    const file = join(dir, 'dup', 'dup.tar.zst');
    const r = await writeDataset(file, { members: { './a.ndjson': [{ _id: 1 }], 'a.ndjson': [{ _id: 2 }] } });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain('"./a.ndjson" and "a.ndjson" are the same member (a.ndjson)');
    expect(existsSync(join(dir, 'dup'))).toBe(false);
    // tar -x resolves "././a" and "x//a", "x/./a" alike too.
    for (const pair of [
      ['././a.ndjson', 'a.ndjson'],
      ['x//a.ndjson', 'x/./a.ndjson'],
    ]) {
      const again = await writeDataset(file, { members: Object.fromEntries(pair.map((name) => [name, [{ _id: 1 }]])) });
      expect(again.isErr() && again.error.code, pair.join(' ')).toBe('INVALID_ARGUMENT');
    }
    expect(existsSync(join(dir, 'dup'))).toBe(false);
  });

  it("refuses a member named like another member's directory (x beside x/a.ndjson), which tar -x cannot extract, writing nothing", async () => {
    // The oracle: an archive holding a file x and a file x/a.ndjson, in either order, makes GNU tar -x fail.
    const src = join(dir, 'parent-src');
    mkdirSync(join(src, 'tree', 'x'), { recursive: true });
    mkdirSync(join(src, 'files'), { recursive: true });
    writeFileSync(join(src, 'tree', 'x', 'a.ndjson'), '{"_id":1}\n');
    writeFileSync(join(src, 'files', 'x'), '{"_id":2}\n');
    for (const [first, second] of [
      ['files', 'tree'],
      ['tree', 'files'],
    ]) {
      const archive = join(src, `${first}-${second}.tar`);
      const out = join(src, `out-${first}`);
      const entry = (tree: string): string => (tree === 'tree' ? 'x/a.ndjson' : 'x');
      sh(
        `tar -C '${join(src, first!)}' -cf '${archive}' ${entry(first!)} && tar -C '${join(src, second!)}' -rf '${archive}' ${entry(second!)}`,
      );
      expect(sh(`mkdir -p '${out}' && { tar -C '${out}' -xf '${archive}' 2>/dev/null; echo "rc=$?"; }`)).toBe('rc=2\n');
    }
    // It used to write both, an archive tar -x fails on and its own reader read.
    const file = join(dir, 'parent', 'parent.tar.zst');
    for (const names of [
      ['x', 'x/a.ndjson'],
      ['x/a.ndjson', 'x'],
      ['./x', 'x//y/./a.ndjson'],
      ['x/y', 'x/y/a.ndjson'],
    ]) {
      const r = await writeDataset(file, { members: Object.fromEntries(names.map((name) => [name, [{ _id: 1 }]])) });
      expect(r.isErr() && r.error.code, names.join(' ')).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message, names.join(' ')).toMatch(
        /needs a directory x(\/y)?, where the file|has the name of a directory/,
      );
    }
    expect(existsSync(join(dir, 'parent'))).toBe(false);
    // Members that share a directory, or only a prefix of a name, are fine.
    const fine = join(dir, 'siblings.tar');
    const members = { 'x/a.ndjson': [{ _id: 1 }], 'x/b.ndjson': [{ _id: 2 }], 'x.ndjson': [{ _id: 3 }], 'xy/a.ndjson': [{ _id: 4 }] };
    (await writeDataset(fine, { members, compression: 'none' }))._unsafeUnwrap();
    const out = join(dir, 'siblings-out');
    sh(`mkdir -p '${out}' && tar -C '${out}' -xf '${fine}'`);
    expect(sh(`cd '${out}' && find . -type f | sort`)).toBe('./manifest.json\n./x.ndjson\n./x/a.ndjson\n./x/b.ndjson\n./xy/a.ndjson\n');
  });

  it('refuses a record JSON.stringify writes as nothing, or as no object, naming it; a failed write leaves no directory behind', async () => {
    const cases: [unknown, string][] = [
      [{ toJSON: () => undefined }, 'as nothing'],
      [() => 1, 'as nothing'],
      [Symbol('s'), 'as nothing'],
      [undefined, 'as nothing'],
      [{ n: 1n }, 'JSON.stringify failed'],
      [[1, 2], 'as [1,2]'],
      [new Date(0), 'as "1970-01-01T00:00:00.000Z"'],
    ];
    for (const [bad, says] of cases) {
      // It used to write the line "undefined" (or a line that is not an object) and count it as a record.
      const file = join(dir, 'undef', 'sub', 'u.tar.zst');
      const r = await writeDataset(file, { members: { 'a.ndjson': [{ _id: 1 }, bad as object] } });
      expect(r.isErr() && r.error.code, says).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message, says).toContain(
        `a.ndjson record at index 1: ${says === 'JSON.stringify failed' ? '' : 'JSON.stringify writes it '}${says}`,
      );
      expect(existsSync(join(dir, 'undef')), says).toBe(false);
    }
  });

  it('refuses a ready-made line the reader would read as another number of records, or refuse, naming member and index', async () => {
    const cases: [string, string][] = [
      // It used to write two lines and count 3 records for the 2 given.
      ['{"_id":"b"}\n{"_id":"c"}', 'holds a line break'],
      ['{"_id":"b"}\r{"_id":"c"}', 'holds a line break'],
      ['{"_id":"b"}\n', 'holds a line break'],
      // Blank lines used to vanish (the manifest then counted fewer records than given) ...
      ['', 'must be one JSON object'],
      [' \t ', 'must be one JSON object'],
      // ... and lines that are not an object were written for the reader to refuse.
      ['[1,2]', 'must be one JSON object'],
      ['not json', 'must be one JSON object'],
      ['{"_id":"b"', 'must be one JSON object'],
      ['\uFEFF{"_id":"b"}', 'must be one JSON object'],
      // It used to be written as U+FFFD, another record than the one given.
      ['{"_id":"\uD800"}', 'half of a UTF-16 surrogate pair'],
    ];
    for (const [line, says] of cases) {
      const file = join(dir, 'ready', 'r.tar.zst');
      const r = await writeDataset(file, { members: { 'a.ndjson': [{ _id: 'a' }, line] } });
      expect(r.isErr() && r.error.code, JSON.stringify(line)).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message, JSON.stringify(line)).toContain(`a.ndjson record at index 1: `);
      expect(r.isErr() && r.error.message, JSON.stringify(line)).toContain(says);
      expect(r.isErr() && r.error.context, JSON.stringify(line)).toEqual({ member: 'a.ndjson', index: 1 });
      expect(existsSync(join(dir, 'ready')), JSON.stringify(line)).toBe(false);
    }
    // Spaces and tabs around the object are JSON whitespace: written as given, and counted as the reader reads them.
    const file = join(dir, 'ready-ok.tar.zst');
    const lines = [' {"_id":"a"}\t', '{"_id":"b","s":"\uD83D\uDE80"}'];
    const written = (await writeDataset(file, { members: { 'a.ndjson': lines } }))._unsafeUnwrap();
    expect(written.manifest.members[0]?.records).toBe(2);
    const ids: unknown[] = [];
    for await (const m of readDataset(file)) if (m.name === 'a.ndjson') for await (const r of m.records()) ids.push(r.value._id);
    expect(ids).toEqual(['a', 'b']);
  });

  it('refuses a source that is neither records nor { file } (a path given as a plain string), saying to pass { file }', async () => {
    const src = join(dir, 'plain.ndjson');
    writeFileSync(src, '{"_id":"a"}\n');
    // TypeScript accepts a string here (it is an iterable of strings); it used to fail with IO_ERROR "Cannot use 'in' operator …".
    for (const source of [src, null, 7, {}, { file: 7 }] as unknown as MemberSource[]) {
      const r = await writeDataset(join(dir, 'plain.tar'), { members: { 'a.ndjson': source }, compression: 'none' });
      expect(r.isErr() && r.error.code, String(source)).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message, String(source)).toContain('pass { file: path } to copy a file, or an iterable of records');
    }
    expect(existsSync(join(dir, 'plain.tar'))).toBe(false);
  });

  it('names the { file } that cannot be read, not the tarball being written', async () => {
    const file = join(dir, 'unreadable.tar.zst');
    for (const [src, code] of [
      [join(dir, 'no-such.ndjson'), 'ENOENT'],
      [dir, 'EISDIR'],
    ] as const) {
      const r = await writeDataset(file, { members: { 'a.ndjson': { file: src } } });
      // It used to say "<file>: EISDIR …", blaming the output.
      expect(r.isErr() && r.error.code, code).toBe('IO_ERROR');
      expect(r.isErr() && r.error.message.startsWith(`${src}: ${code}`), code).toBe(true);
      expect(r.isErr() && r.error.context, code).toEqual({ path: src, member: 'a.ndjson' });
    }
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a member name ending in "/", which GNU tar extracts as an empty directory', async () => {
    // The oracle: GNU tar extracts a file entry named "d/" as an empty directory, drops its data and fails.
    const src = join(dir, 'slash-oracle.tar');
    sh(`cd '${dir}' && printf '{"_id":1}\\n' > x && tar --transform 's,^x$,d/,' -cf '${src}' x && rm x`);
    expect(run('tar', ['-tvf', src])).toMatch(/^d.* d\/$/m);
    const out = join(dir, 'slash-out');
    mkdirSync(out);
    expect(spawnSync('tar', ['-C', out, '-xf', src]).status).toBe(2);
    expect(statSync(join(out, 'd')).isDirectory()).toBe(true);
    expect(readdirSync(join(out, 'd'))).toEqual([]);
    // It used to write such a member, which the reader then read as data.
    for (const name of ['d/', 'd/.']) {
      const r = await writeDataset(join(dir, 'slash.tar.zst'), { members: { [name]: [{ _id: 1 }] } });
      expect(r.isErr() && r.error.code, name).toBe('MEMBER_PATH_UNSAFE');
    }
    expect(existsSync(join(dir, 'slash.tar.zst'))).toBe(false);
  });

  it('copies a { file } member byte for byte (CRLF, a bare CR, blank lines, no last LF) and counts records as the reader does', async () => {
    const src = join(dir, 'bytes.ndjson');
    const bytes = Buffer.from('{"_id":"a"}\r\n\n{"_id":"b",\r"x":1}\n  \n{"_id":"c","s":"caf\u00e9"}');
    writeFileSync(src, bytes);
    const file = join(dir, 'bytes.tar.zst');
    const written = (await writeDataset(file, { members: { 'a.ndjson': { file: src } } }))._unsafeUnwrap();
    // The oracles: GNU tar extracts the very bytes, and sha256sum agrees with the manifest.
    const out = join(dir, 'bytes-out');
    sh(`mkdir -p '${out}' && tar --zstd -C '${out}' -xf '${file}' a.ndjson`);
    expect(readFileSync(join(out, 'a.ndjson')).equals(bytes)).toBe(true);
    expect(written.manifest.members[0]).toEqual({ name: 'a.ndjson', records: 3, bytes: bytes.length, sha256: sha256sum(src) });
    const ids: unknown[] = [];
    for await (const m of readDataset(file)) if (m.name === 'a.ndjson') for await (const r of m.records()) ids.push(r.value._id);
    expect(ids).toEqual(['a', 'b', 'c']);
  });

  it('refuses a { file } member that is not UTF-8, naming the file, byte offset and line, and writes nothing', async () => {
    const good = '{"_id":"a"}\n'.repeat(3000);
    for (const [bytes, line] of [
      [Buffer.concat([Buffer.from(`${good}{"_id":"b","s":"caf`), Buffer.from([0xe9]), Buffer.from('"}\n')]), 3001],
      // A real U+FFFD before the bad byte, and a character cut off by the end of the file.
      [Buffer.concat([Buffer.from('{"s":"\uFFFD"}\n{"s":"'), Buffer.from([0xe2, 0x82])]), 2],
    ] as const) {
      const src = join(dir, 'latin1.ndjson');
      writeFileSync(src, bytes);
      // The oracle: iconv refuses the file too, at the same byte (or at the end, for a cut-off character).
      const iconv = spawnSync('iconv', ['-f', 'UTF-8', '-t', 'UTF-8', src], { encoding: 'utf8' });
      expect(iconv.status).not.toBe(0);
      const at = Number(/illegal input sequence at position (\d+)/.exec(iconv.stderr)?.[1] ?? bytes.length - 2);
      const file = join(dir, 'latin1.tar.zst');
      const r = await writeDataset(file, { members: { 'a.ndjson': { file: src } } });
      expect(r.isErr() && r.error.code).toBe('ENCODING_INVALID');
      expect(r.isErr() && r.error.message).toBe(`${src}: not valid UTF-8 at byte ${at} (line ${line}); re-encode the file as UTF-8.`);
      expect(r.isErr() && r.error.context).toMatchObject({ path: src, member: 'a.ndjson', offset: at, line });
      expect(existsSync(file)).toBe(false);
    }
  });

  it('creates the missing parent directory of the output file', async () => {
    const file = join(dir, 'new', 'nested', 'made.tar.zst');
    const r = await writeDataset(file, { members: { 'a.ndjson': [{ _id: 1 }] } });
    expect(r.isOk() && r.value.bytes).toBe(readFileSync(file).length);
    expect(run('tar', ['--zstd', '-tf', file])).toBe('manifest.json\na.ndjson\n');
  });

  it.skipIf(!NODE22 || !existsSync(NODE22))(
    `writes the same bytes on Node 22 and Node 24 for each compression${NODE22 ? '' : ' (skipped: set BACKFILL_KIT_NODE22 to a Node 22 binary)'}`,
    () => {
      const source = pathToFileURL(join(fileURLToPath(new URL('../../..', import.meta.url)), 'src/dataset/index.ts')).href;
      const script = `import { writeDataset } from ${JSON.stringify(source)};
import { generateLinksets } from ${JSON.stringify(source.replace('/dataset/index.ts', '/testing/index.ts'))};
const out = [];
for (const compression of ['zstd', 'gzip', 'none']) {
  const r = await writeDataset(process.argv[1] + '.' + compression, { compression, members: { 'linksets.ndjson': generateLinksets(3000, 5) } });
  if (r.isErr()) throw r.error;
  out.push(compression + ' ' + r.value.sha256);
}
console.log(out.join('\\n'));`;
      // Same file name in two directories: the manifest's name comes from it.
      const written = (node: string, sub: string): string =>
        run(node, ['--import', 'tsx', '--input-type=module', '-e', script, join(dir, sub, 'same')]).trim();
      const on24 = written(process.execPath, 'node24');
      const on22 = written(NODE22!, 'node22');
      expect(run(NODE22!, ['--version'])).toMatch(/^v22\./);
      expect(on24.split('\n')).toHaveLength(3);
      expect(on22).toBe(on24);
      for (const c of ['zstd', 'gzip', 'none'])
        expect(sha256sum(join(dir, 'node22', `same.${c}`))).toBe(sha256sum(join(dir, 'node24', `same.${c}`)));
    },
    120_000,
  );
});
