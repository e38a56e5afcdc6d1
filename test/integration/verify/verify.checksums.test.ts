/**
 * verifyChecksums / writeChecksums against GNU sha256sum itself: same bytes
 * written, same per-file verdicts and the same overall status when checking.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChecksums, writeChecksums, type ChecksumReport } from '../../../src/verify/index.js';
import { oneDigitOff } from '../../support/hex-digest.js';
import { fifoReaderWaiting, needTools } from '../../support/tmp.js';

const sha256sumTool = needTools('sha256sum');

const NAMES = [
  'plain.txt',
  'with space.txt',
  'back\\slash.bin',
  'new\nline.txt',
  'carriage\rreturn',
  'tab\tname',
  ' leading space',
  'trailing space ',
  'ünïcödé.json',
  '*star',
  'odd) = name (2).txt',
  'sub/dir/deep.txt',
];

let dir: string;

function sha(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The name in one line of `sha256sum -c` output. Versions differ in which
 * names they escape when printing (9.1: only names with a newline), so undo
 * the escaping rather than reproduce it.
 */
function unshown(line: string): string {
  if (!line.startsWith('\\')) return line;
  return line.slice(1).replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

function gnuCheck(sums: string, flags: string[]): { status: number; lines: string[] } {
  const r = spawnSync('sha256sum', ['--check', ...flags, sums], { cwd: dir, encoding: 'buffer' });
  const lines = r.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map(unshown);
  return { status: r.status ?? -1, lines };
}

function ourLines(report: ChecksumReport): string[] {
  return report.entries
    .filter((e) => e.status !== 'SKIPPED')
    .map((e) => `${e.path}: ${e.status === 'OK' ? 'OK' : e.status === 'FAILED' ? 'FAILED' : 'FAILED open or read'}`);
}

async function compare(sumsContent: Buffer | string, opts: { strict?: boolean; ignoreMissing?: boolean } = {}): Promise<ChecksumReport> {
  const sums = join(dir, `SUMS-${randomBytes(4).toString('hex')}`);
  writeFileSync(sums, sumsContent);
  const flags = [...(opts.strict ? ['--strict'] : []), ...(opts.ignoreMissing ? ['--ignore-missing'] : [])];
  const gnu = gnuCheck(sums, flags);
  const result = await verifyChecksums(sums, opts);
  unlinkSync(sums);
  expect(result.isOk()).toBe(true);
  const report = result._unsafeUnwrap();
  expect(ourLines(report)).toEqual(gnu.lines);
  expect(report.ok).toBe(gnu.status === 0);
  return report;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-verify-sums-'));
  mkdirSync(join(dir, 'sub', 'dir'), { recursive: true });
  for (const [i, name] of NAMES.entries()) writeFileSync(join(dir, name), `content of file ${i}\n`.repeat(i * 100 + 1));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(sha256sumTool.missing)(sha256sumTool.title('writeChecksums matches sha256sum byte for byte'), () => {
  const sorted = [...NAMES].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const [format, flag] of [
    ['text', []],
    ['binary', ['--binary']],
    ['tag', ['--tag']],
  ] as const) {
    it(`${format} form, names with spaces, backslashes, CR and newlines`, async () => {
      const out = join(dir, `OUT-${format}`);
      const result = await writeChecksums([...NAMES].reverse(), out, { format });
      expect(result.isOk()).toBe(true);
      const gnu = spawnSync('sha256sum', [...flag, '--', ...sorted], { cwd: dir, encoding: 'buffer' });
      expect(gnu.status).toBe(0);
      expect(readFileSync(out).equals(gnu.stdout)).toBe(true);
      expect(result._unsafeUnwrap().entries.map((e) => e.path)).toEqual(sorted);
      // and the file it wrote checks clean with sha256sum itself
      expect(gnuCheck(out, []).status).toBe(0);
      unlinkSync(out);
    });
  }

  it('refuses absolute and escaping names', async () => {
    const abs = await writeChecksums([join(dir, 'plain.txt')], join(dir, 'X'));
    expect(abs._unsafeUnwrapErr().code).toBe('CHECKSUM_PATH_UNSAFE');
    const up = await writeChecksums(['sub/../../etc/passwd'], join(dir, 'X'));
    expect(up._unsafeUnwrapErr().code).toBe('CHECKSUM_PATH_UNSAFE');
  });

  it('reports a missing file as IO_ERROR and leaves no file behind', async () => {
    const out = join(dir, 'NOPE');
    const r = await writeChecksums(['does-not-exist'], out);
    expect(r._unsafeUnwrapErr().code).toBe('IO_ERROR');
    expect(() => readFileSync(out)).toThrow();
  });
});

describe.skipIf(sha256sumTool.missing)(sha256sumTool.title('verifyChecksums reaches the same verdicts as sha256sum --check'), () => {
  function gnuSums(flags: string[] = []): Buffer {
    const r = spawnSync('sha256sum', [...flags, '--', ...NAMES], { cwd: dir, encoding: 'buffer' });
    expect(r.status).toBe(0);
    return r.stdout;
  }

  it('all OK in text, binary and tag form', async () => {
    for (const flags of [[], ['--binary'], ['--tag']]) {
      const report = await compare(gnuSums(flags));
      expect(report.ok).toBe(true);
      expect(report.counts.ok).toBe(NAMES.length);
    }
  });

  it('a tampered file FAILS and the report says which', async () => {
    const sums = gnuSums();
    const victim = join(dir, 'with space.txt');
    const original = readFileSync(victim);
    writeFileSync(victim, Buffer.concat([original, Buffer.from('x')]));
    try {
      const report = await compare(sums);
      const bad = report.entries.find((e) => e.path === 'with space.txt');
      expect(bad?.status).toBe('FAILED');
      expect(bad?.code).toBe('CHECKSUM_MISMATCH');
      expect(bad?.actual).toBe(sha(readFileSync(victim)));
      expect(report.problems.map((p) => p.code)).toEqual(['CHECKSUM_MISMATCH']);
    } finally {
      writeFileSync(victim, original);
    }
  });

  it('a digest one hex digit off, last or in the middle, FAILS as sha256sum --check fails it', async () => {
    const lines = gnuSums().toString('latin1').split('\n').filter(Boolean);
    const off = lines.map((line, i) =>
      line.replace(/^(\\?)([0-9a-f]{64})/, (_m, e: string, h: string) => {
        if (i === 0) return `${e}${oneDigitOff(h)}`;
        if (i === 1) return `${e}${oneDigitOff(h, 31)}`;
        return `${e}${h}`;
      }),
    );
    expect(off.slice(0, 2)).not.toEqual(lines.slice(0, 2));
    const report = await compare(Buffer.from(`${off.join('\n')}\n`, 'latin1'));
    expect(report.ok).toBe(false);
    expect(report.counts.ok).toBe(NAMES.length - 2);
    expect(report.problems.map((p) => p.code)).toEqual(['CHECKSUM_MISMATCH', 'CHECKSUM_MISMATCH']);
  });

  it('missing files: FAILED open or read, or skipped with ignoreMissing', async () => {
    const sums = Buffer.concat([gnuSums(), Buffer.from(`${sha('gone')}  gone.txt\n`)]);
    const plain = await compare(sums);
    expect(plain.counts.missing).toBe(1);
    expect(plain.problems[0]?.code).toBe('FILE_MISSING');
    const ignoring = await compare(sums, { ignoreMissing: true });
    expect(ignoring.ok).toBe(true);
    expect(ignoring.counts.skipped).toBe(1);
    // nothing verified at all fails, as in sha256sum
    const none = await compare(`${sha('gone')}  gone.txt\n`, { ignoreMissing: true });
    expect(none.ok).toBe(false);
    expect(none.problems.at(-1)?.code).toBe('FILE_MISSING');
  });

  it('blank, comment and malformed lines are counted; malformed ones are fatal under strict', async () => {
    const sums = Buffer.concat([Buffer.from('# a comment\n\n'), gnuSums(), Buffer.from('not a checksum line\n\r\n')]);
    const lax = await compare(sums);
    expect(lax.ok).toBe(true);
    expect(lax.counts).toMatchObject({ malformed: 1, blank: 2, comments: 1 });
    expect(lax.malformedLines).toEqual([NAMES.length + 3]);
    const strict = await compare(sums, { strict: true });
    expect(strict.ok).toBe(false);
    expect(strict.problems.map((p) => p.code)).toEqual(['CHECKSUM_LINE_MALFORMED']);
    const empty = await compare('garbage\n');
    expect(empty.ok).toBe(false);
  });

  it('CRLF line endings, upper-case hex and a directory', async () => {
    // upper-case only the digests: the names must stay as they are
    const lines = gnuSums()
      .toString('latin1')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^(\\?)([0-9a-f]{64})/, (_m, e: string, h: string) => e + h.toUpperCase()));
    await compare(Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1'));
    const withDir = await compare(`${sha('')}  sub\n`);
    expect(withDir.entries[0]?.status).toBe('UNREADABLE');
  });

  it('refuses .. and absolute paths with CHECKSUM_PATH_UNSAFE, without reading them', async () => {
    const evil = `${sha('x')}  ../outside.txt\n${sha('y')}  /etc/hostname\n${sha('z')}  sub/../../x\n`;
    const sums = join(dir, 'EVIL');
    writeFileSync(sums, Buffer.concat([gnuSums(), Buffer.from(evil)]));
    const report = (await verifyChecksums(sums))._unsafeUnwrap();
    unlinkSync(sums);
    expect(report.ok).toBe(false);
    expect(report.counts.unsafe).toBe(3);
    expect(report.entries.filter((e) => e.status === 'UNSAFE').every((e) => e.actual === null)).toBe(true);
    expect(report.problems.map((p) => p.code)).toEqual(['CHECKSUM_PATH_UNSAFE', 'CHECKSUM_PATH_UNSAFE', 'CHECKSUM_PATH_UNSAFE']);
    // a `..` that stays inside is fine
    const inside = await compare(`${sha(readFileSync(join(dir, 'plain.txt')))}  sub/../plain.txt\n`);
    expect(inside.ok).toBe(true);
  });

  it('reports progress, honours abort, validates options, hashes a file listed twice once', async () => {
    const sums = join(dir, 'PROGRESS');
    writeFileSync(sums, Buffer.concat([gnuSums(), gnuSums()]));
    const seen: number[] = [];
    const report = (
      await verifyChecksums(sums, { concurrency: 2, chunkBytes: 64, onProgress: (p) => seen.push(p.filesDone) })
    )._unsafeUnwrap();
    expect(report.ok).toBe(true);
    expect(report.counts.ok).toBe(NAMES.length * 2);
    expect(seen).toEqual(NAMES.map((_, i) => i + 1));
    const controller = new AbortController();
    controller.abort();
    expect((await verifyChecksums(sums, { signal: controller.signal }))._unsafeUnwrapErr().code).toBe('ABORTED');
    const midway = new AbortController();
    const aborted = await verifyChecksums(sums, {
      chunkBytes: 16,
      concurrency: 1,
      onProgress: () => midway.abort(),
      signal: midway.signal,
    });
    expect(aborted._unsafeUnwrapErr().code).toBe('ABORTED');
    expect((await verifyChecksums(sums, { concurrency: 0 }))._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect((await verifyChecksums(join(dir, 'no-such-sums')))._unsafeUnwrapErr().code).toBe('IO_ERROR');
    unlinkSync(sums);
  });

  it('randomised lines: same verdicts as sha256sum on 250 sums files', async () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T;
    const digests = new Map(NAMES.map((n) => [n, sha(readFileSync(join(dir, n)))]));
    const escapeName = (n: string): string => n.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
    function line(): string {
      const name = pick([...NAMES, 'missing file', '', 'x']);
      const good = digests.get(name) ?? sha(name);
      const hex = pick([good, good, good.toUpperCase(), sha('wrong'), good.slice(1), `${good}0`, `${good.slice(0, 63)}g`]);
      const needs = /[\\\n\r]/.test(name);
      const nm = pick([needs ? escapeName(name) : name, escapeName(name), name.replace(/\n/g, '')]);
      const esc = pick(['', '', needs ? '\\' : '', '\\']);
      const lead = pick(['', '', '', ' ', '\t']);
      switch (rand(7)) {
        case 0:
          return `${lead}${esc}${hex}  ${nm}`;
        case 1:
          return `${lead}${esc}${hex} *${nm}`;
        case 2:
          return `${lead}${esc}SHA256 (${nm}) = ${hex}`;
        case 3:
          return `${lead}${esc}SHA256(${nm})=${hex}`;
        case 4:
          return `${lead}${esc}${hex} ${nm}`;
        case 5:
          return `${lead}${esc}${hex}\t${pick([' ', '*', ''])}${nm}`;
        default:
          return pick(['', '#', '# x', 'SHA256 (x', `SHA256 (x) ${hex}`, 'garbage', `${hex}`, `${hex} `]);
      }
    }
    const seen = { ok: 0, failed: 0, malformed: 0, skipped: 0 };
    for (let round = 0; round < 250; round++) {
      const body = Array.from({ length: 1 + rand(5) }, line).join(pick(['\n', '\r\n'])) + pick(['\n', '']);
      const report = await compare(body, { strict: rand(2) === 0, ignoreMissing: rand(2) === 0 });
      seen.ok += report.ok ? 1 : 0;
      seen.failed += report.counts.failed;
      seen.malformed += report.counts.malformed;
      seen.skipped += report.counts.skipped;
    }
    // the generator must really exercise every kind of verdict
    expect(Math.min(seen.ok, seen.failed, seen.malformed, seen.skipped)).toBeGreaterThan(10);
  });
});

describe.skipIf(sha256sumTool.missing)(sha256sumTool.title('verifyChecksums: symlinks, special files and `-`'), () => {
  let root: string;
  let bundle: string;
  const SECRET = 'secret bytes\n';
  const INSIDE = 'inside bytes\n';

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'bk-verify-links-'));
    bundle = join(root, 'bundle');
    mkdirSync(join(bundle, 'sub'), { recursive: true });
    mkdirSync(join(root, 'secret'));
    writeFileSync(join(root, 'secret', 'data.txt'), SECRET);
    writeFileSync(join(bundle, 'sub', 'inside.txt'), INSIDE);
    symlinkSync('../secret/data.txt', join(bundle, 'out'));
    symlinkSync('../secret', join(bundle, 'outdir'));
    symlinkSync('/etc', join(bundle, 'etcdir'));
    symlinkSync('sub/inside.txt', join(bundle, 'inlink'));
    symlinkSync('sub', join(bundle, 'subdir-link'));
    symlinkSync('/dev/zero', join(bundle, 'zero'));
    spawnSync('mkfifo', [join(bundle, 'fifo')]);
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  function gnu(sums: string, input = ''): { status: number; stdout: string } {
    const r = spawnSync('sha256sum', ['--check', sums], { cwd: bundle, encoding: 'utf8', input });
    return { status: r.status ?? -1, stdout: r.stdout };
  }

  it('refuses symlinks that lead out of the base directory by real path; followSymlinksOutside reads them as sha256sum does', async () => {
    const hostname = readFileSync('/etc/hostname');
    const sums = join(bundle, 'SHA256SUMS');
    writeFileSync(
      sums,
      [
        `${sha(SECRET)}  out`,
        `${sha(SECRET)}  outdir/data.txt`,
        `${sha(hostname)}  etcdir/hostname`,
        `${sha(INSIDE)}  inlink`,
        `${sha(INSIDE)}  subdir-link/inside.txt`,
        '',
      ].join('\n'),
    );
    // sha256sum follows every link: the oracle for followSymlinksOutside
    expect(gnu(sums)).toEqual({
      status: 0,
      stdout: 'out: OK\noutdir/data.txt: OK\netcdir/hostname: OK\ninlink: OK\nsubdir-link/inside.txt: OK\n',
    });
    const report = (await verifyChecksums(sums))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.entries.map((e) => [e.path, e.status, e.actual])).toEqual([
      ['out', 'UNSAFE', null],
      ['outdir/data.txt', 'UNSAFE', null],
      ['etcdir/hostname', 'UNSAFE', null],
      ['inlink', 'OK', sha(INSIDE)],
      ['subdir-link/inside.txt', 'OK', sha(INSIDE)],
    ]);
    expect(report.problems.map((p) => p.code)).toEqual(['CHECKSUM_PATH_UNSAFE', 'CHECKSUM_PATH_UNSAFE', 'CHECKSUM_PATH_UNSAFE']);
    expect(report.problems[0]?.message).toContain('symlink');
    const following = (await verifyChecksums(sums, { followSymlinksOutside: true }))._unsafeUnwrap();
    expect(following.ok).toBe(true);
    expect(following.counts.ok).toBe(5);
  });

  it('a FIFO, a socket, /dev/zero and a directory are UNREADABLE and never read, so the call cannot hang', async () => {
    const socketPath = join(bundle, 'sock');
    const server = createServer().listen(socketPath);
    await once(server, 'listening');
    try {
      const sums = join(bundle, 'SPECIAL');
      writeFileSync(
        sums,
        [`${sha('')}  fifo`, `${sha('')}  sock`, `${sha('')}  zero`, `${sha('')}  sub`, `${sha(INSIDE)}  inlink`, ''].join('\n'),
      );
      const report = (await verifyChecksums(sums, { followSymlinksOutside: true }))._unsafeUnwrap();
      expect(report.entries.map((e) => [e.path, e.status, e.bytes])).toEqual([
        ['fifo', 'UNREADABLE', null],
        ['sock', 'UNREADABLE', null],
        ['zero', 'UNREADABLE', null],
        ['sub', 'UNREADABLE', null],
        ['inlink', 'OK', INSIDE.length],
      ]);
      expect(report.problems.map((p) => p.message).join('\n')).toMatch(/named pipe[\s\S]*socket[\s\S]*character device[\s\S]*directory/);
      // without the option the link to /dev/zero leads out of the base directory
      expect((await verifyChecksums(sums))._unsafeUnwrap().entries[2]?.status).toBe('UNSAFE');
    } finally {
      server.close();
    }
  }, 20_000);

  it.each([
    ['while the file is being opened', 0],
    ['while waiting for a writer', 100],
  ])(
    'abort ends the call on a sums FIFO that nobody writes (%s), leaving no thread waiting',
    async (_when, delayMs) => {
      const sumsFifo = join(bundle, `SUMS-FIFO-${delayMs}`);
      spawnSync('mkfifo', [sumsFifo]);
      const controller = new AbortController();
      const pending = verifyChecksums(sumsFifo, { signal: controller.signal });
      if (delayMs === 0) controller.abort();
      else setTimeout(() => controller.abort(), delayMs);
      let waiting: boolean;
      try {
        expect((await pending)._unsafeUnwrapErr().code).toBe('ABORTED');
      } finally {
        // Also releases a reader left waiting, so the test never hangs.
        waiting = fifoReaderWaiting(sumsFifo);
      }
      expect(waiting).toBe(false);
    },
    20_000,
  );

  it('a sums file may be a pipe, as for sha256sum --check <(…); a device or socket is IO_ERROR', async () => {
    const sumsFifo = join(bundle, 'SUMS-PIPE');
    spawnSync('mkfifo', [sumsFifo]);
    const lines = `${sha(INSIDE)}  inlink\n${sha(INSIDE)}  sub/inside.txt\n`;
    const writer = spawn('sh', ['-c', 'sleep 0.2; cat > "$0"', sumsFifo], { stdio: ['pipe', 'ignore', 'ignore'] });
    writer.stdin.end(lines);
    const report = (await verifyChecksums(sumsFifo, { baseDir: bundle }))._unsafeUnwrap();
    expect(report.ok).toBe(true);
    expect(report.counts.ok).toBe(2);
    expect((await verifyChecksums('/dev/null', { baseDir: bundle }))._unsafeUnwrapErr().code).toBe('IO_ERROR');
  });

  it('`-` is standard input to sha256sum; verifyChecksums refuses it and reads a file named `-` only as `./-`', async () => {
    const content = 'a file named dash\n';
    writeFileSync(join(bundle, '-'), content);
    const sums = join(bundle, 'DASH');
    writeFileSync(sums, `${sha(content)}  -\n`);
    // sha256sum hashes its standard input, not the file: empty input fails, the file's bytes on stdin pass
    expect(gnu(sums).status).not.toBe(0);
    expect(gnu(sums, content).status).toBe(0);
    const report = (await verifyChecksums(sums))._unsafeUnwrap();
    expect(report.entries[0]).toMatchObject({ path: '-', status: 'UNSAFE', actual: null });
    expect(report.problems[0]?.message).toContain('standard input');
    writeFileSync(sums, `${sha(content)}  ./-\n`);
    expect(gnu(sums).status).toBe(0);
    expect((await verifyChecksums(sums))._unsafeUnwrap().ok).toBe(true);
    // and writeChecksums never writes a `-` line that sha256sum would read as stdin
    expect((await writeChecksums(['-'], join(bundle, 'W')))._unsafeUnwrapErr().code).toBe('CHECKSUM_PATH_UNSAFE');
  });
});
