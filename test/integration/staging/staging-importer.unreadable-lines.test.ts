/**
 * Lines the reader cannot hand over as text (not UTF-8, or longer than
 * `maxLineBytes`): `onInvalid: 'reject'` sets them aside like any other bad
 * line, with a bounded `raw`, and `'fail'` still fails naming the line.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { needTools, tempDir } from '../../support/tmp.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { handTarball, ndjson, run, TABLES, type HandMember } from './fixtures.js';

let db: TestDatabase;
const dir = tempDir('bk-unreadable-');
const tools = needTools('tar', 'zstd');

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

interface Reject {
  member: string;
  line: number;
  code: string;
  reason: string;
  raw: string;
  truncated?: boolean;
  bytes?: number;
  rawBase64?: string;
}

function readRejects(path: string): Reject[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Reject);
}

function needsTools(ctx: TestContext): void {
  if (tools.missing) ctx.skip('skipped: tar or zstd is not installed');
}

/** A tarball whose `linksets.ndjson` is `linksets`, beside a one-line `advisory_chunks.ndjson`. */
function tarball(file: string, linksets: string | Buffer): string {
  const members: HandMember[] = [
    { name: 'linksets.ndjson', text: linksets },
    { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
  ];
  return handTarball(dir, file, members);
}

async function ids(schema: string): Promise<string[]> {
  return (await db.query<{ id: string }>(`SELECT id FROM ${schema}.linksets_raw ORDER BY id`)).map((r) => r.id);
}

const importer = (schema: string): StagingImporter => new StagingImporter({ pg: db.pool, schema, tables: TABLES });

// A string whose bytes are not UTF-8: the lone byte 0xFF, once inside a JSON string and once outside one.
const inString = Buffer.concat([Buffer.from('{"_id":"bad-in","t":"x'), Buffer.from([0xff]), Buffer.from('y"}')]);
const outside = Buffer.concat([Buffer.from('{"_id":"bad-out","t":1}'), Buffer.from([0xc3])]);

describe('lines the reader cannot decode or hold', () => {
  it.for(['truncate', 'swap'] as const)(
    "invalid UTF-8 (inside a JSON string and outside one) is set aside under 'reject', with its bytes recoverable",
    async (strategy, ctx) => {
      needsTools(ctx);
      const text = Buffer.concat([
        Buffer.from('{"_id":"a"}\n'),
        inString,
        Buffer.from('\r\n{"_id":"b"}\n'),
        outside,
        Buffer.from('\n{"_id":"d"}\n'),
      ]);
      const path = tarball(`utf8-${strategy}.tar.zst`, text);
      const rejectPath = join(dir, `utf8-${strategy}.rejects.ndjson`);
      const schema = `s_utf8_${strategy}`;
      const report = (await importer(schema).import(path, { strategy, onInvalid: 'reject', rejectPath }))._unsafeUnwrap();
      expect(report.tables[0]).toMatchObject({ loaded: 3, rejected: 2, expected: 5, ok: true });
      expect(report.committed).toBe(true);
      expect(await ids(schema)).toEqual(['a', 'b', 'd']);
      const rejects = readRejects(rejectPath);
      expect(rejects.map((r) => [r.member, r.line, r.code])).toEqual([
        ['linksets.ndjson', 2, 'ENCODING_INVALID'],
        ['linksets.ndjson', 4, 'ENCODING_INVALID'],
      ]);
      expect(rejects[0]?.reason).toContain('linksets.ndjson line 2');
      // raw is readable text with U+FFFD in place of each bad sequence; rawBase64 is the line's exact bytes (without its CRLF).
      expect(rejects[0]?.raw).toBe('{"_id":"bad-in","t":"x\uFFFDy"}');
      expect(Buffer.from(rejects[0]?.rawBase64 ?? '', 'base64')).toEqual(inString);
      expect(Buffer.from(rejects[1]?.rawBase64 ?? '', 'base64')).toEqual(outside);
      expect(rejects.every((r) => r.truncated === undefined)).toBe(true);
    },
  );

  it('invalid UTF-8 still fails the import under the default onInvalid, naming member and line', async (ctx) => {
    needsTools(ctx);
    const path = tarball('utf8-fail.tar.zst', Buffer.concat([Buffer.from('{"_id":"a"}\n'), inString, Buffer.from('\n')]));
    const e = (await importer('s_utf8_fail').import(path))._unsafeUnwrapErr();
    expect(e.code).toBe('ENCODING_INVALID');
    expect(e.message).toMatch(/^linksets\.ndjson line 2: /);
    expect(e.context).toMatchObject({ member: 'linksets.ndjson', line: 2 });
    expect(e.partial?.committed).toBe(false);
  });

  it.for(['truncate', 'swap'] as const)(
    "lines over maxLineBytes are set aside under 'reject' with a bounded raw; a line exactly at the limit loads",
    async (strategy, ctx) => {
      needsTools(ctx);
      const maxLineBytes = 1024;
      const atLimit = `{"_id":"at","t":"${'x'.repeat(maxLineBytes - 19)}"}`;
      expect(Buffer.byteLength(atLimit)).toBe(maxLineBytes);
      const long = (id: string, bytes: number): string => `{"_id":"${id}","t":"${'é'.repeat(bytes)}"}`;
      const lines = [
        '{"_id":"a"}',
        `${atLimit}\r`,
        `${long('long-1', 3000)}\r`,
        // Many over-long lines in a row: each is rejected on its own, each raw bounded.
        ...Array.from({ length: 20 }, (_, i) => long(`run-${i}`, 2000 + i)),
        '{"_id":"b"}',
        // The last line is over the limit and has no newline.
        long('last', 5000),
      ];
      const path = tarball(`long-${strategy}.tar.zst`, lines.join('\n'));
      const rejectPath = join(dir, `long-${strategy}.rejects.ndjson`);
      const schema = `s_long_${strategy}`;
      const report = (await importer(schema).import(path, { strategy, onInvalid: 'reject', rejectPath, maxLineBytes }))._unsafeUnwrap();
      expect(report.tables[0]).toMatchObject({ loaded: 3, rejected: 22, expected: 25, ok: true });
      expect(await ids(schema)).toEqual(['a', 'at', 'b']);
      const rejects = readRejects(rejectPath);
      expect(rejects.map((r) => r.line)).toEqual([3, ...Array.from({ length: 20 }, (_, i) => 4 + i), 25]);
      for (const r of rejects) {
        const whole = lines[r.line - 1]!.replace(/\r$/, '');
        expect(r).toMatchObject({ member: 'linksets.ndjson', code: 'LINE_TOO_LONG', truncated: true, bytes: Buffer.byteLength(whole) });
        expect(r.reason).toContain(`linksets.ndjson line ${r.line}`);
        // The first bytes of the line, cut back to a whole character: never more than the limit.
        expect(Buffer.byteLength(r.raw)).toBeLessThanOrEqual(maxLineBytes);
        expect(Buffer.byteLength(r.raw)).toBeGreaterThan(maxLineBytes - 4);
        expect(whole.startsWith(r.raw)).toBe(true);
        expect(r.rawBase64).toBeUndefined();
      }
    },
  );

  it('a line over maxLineBytes still fails the import under the default onInvalid, naming member and line', async (ctx) => {
    needsTools(ctx);
    const path = tarball('long-fail.tar.zst', `{"_id":"a"}\n{"_id":"b","t":"${'x'.repeat(4000)}"}\n{"_id":"c"}\n`);
    const e = (await importer('s_long_fail').import(path, { maxLineBytes: 1024 }))._unsafeUnwrapErr();
    expect(e.code).toBe('LINE_TOO_LONG');
    expect(e.message).toMatch(/^linksets\.ndjson line 2: longer than maxLineBytes \(1024\)/);
    expect(e.context).toMatchObject({ member: 'linksets.ndjson', line: 2 });
  });

  it('a 50 MB line past a 1 KiB limit is rejected without being held in memory', async (ctx) => {
    needsTools(ctx);
    const size = 50 * 1024 * 1024;
    const opening = '{"_id":"huge","t":"';
    // Written by the shell, so this process holds none of the line before the import reads it.
    const src = join(dir, 'huge.d');
    mkdirSync(src);
    writeFileSync(join(src, 'advisory_chunks.ndjson'), ndjson([{ _id: 'c' }]));
    const members = [
      { name: 'linksets.ndjson', records: 3 },
      { name: 'advisory_chunks.ndjson', records: 1 },
    ];
    writeFileSync(
      join(src, 'manifest.json'),
      JSON.stringify({ schemaVersion: 1, name: 'huge', createdAt: '2025-12-07T14:24:45Z', members }),
    );
    const path = join(dir, 'huge.tar.zst');
    const body = `head -c ${size - opening.length - 2} /dev/zero | tr '\\0' z`;
    run('sh', [
      '-c',
      `cd "$0" && { printf '%s\\n%s' '{"_id":"a"}' '${opening}'; ${body}; printf '"}\\n{"_id":"b"}\\n'; } > linksets.ndjson && tar -cf - linksets.ndjson advisory_chunks.ndjson manifest.json | zstd -q -f -o "$1"`,
      src,
      path,
    ]);
    const rejectPath = join(dir, 'huge.rejects.ndjson');
    // What any import costs the process the first time (a pool's connections, a reader thread's) is not the line's.
    const warm = tarball('warm.tar.zst', ndjson([{ _id: 'a' }]));
    (await importer('s_huge').import(warm, { onInvalid: 'reject', rejectPath, maxLineBytes: 1024 }))._unsafeUnwrap();
    // The process's resident memory, sampled while it reads: the line's chunks arrive in the reader thread's memory.
    const before = process.memoryUsage.rss();
    let peak = before;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 1);
    try {
      const report = (
        await importer('s_huge').import(path, { onInvalid: 'reject', rejectPath, maxLineBytes: 1024, batchBytes: 4096 })
      )._unsafeUnwrap();
      expect(report.tables[0]).toMatchObject({ loaded: 2, rejected: 1, expected: 3, ok: true });
    } finally {
      clearInterval(sample);
    }
    const [reject] = readRejects(rejectPath);
    expect(reject).toMatchObject({ line: 2, code: 'LINE_TOO_LONG', truncated: true, bytes: size });
    expect(reject?.raw).toBe(opening + 'z'.repeat(1024 - opening.length));
    // Holding the line would take 50 MB more; what the reader needs besides (its thread, the chunks in flight) is far less.
    expect(peak - before).toBeLessThan(40 * 1024 * 1024);
  });

  it('an unreadable line does not hide the lines behind a duplicate id or a row PostgreSQL refuses', async (ctx) => {
    needsTools(ctx);
    const text = Buffer.concat([
      Buffer.from('{"_id":"a"}\n'),
      inString,
      Buffer.from(`\n{"_id":"b","t":"${'x'.repeat(2000)}"}\n{"_id":"c"}\n{"_id":"a","again":true}\n`),
    ]);
    const path = tarball('dup-after.tar.zst', text);
    const rejectPath = join(dir, 'dup-after.rejects.ndjson');
    const report = (await importer('s_dup_after').import(path, { onInvalid: 'reject', rejectPath, maxLineBytes: 1024 }))._unsafeUnwrap();
    expect(report.tables[0]).toMatchObject({ loaded: 2, rejected: 3, expected: 5, ok: true });
    expect(readRejects(rejectPath).map((r) => [r.line, r.code])).toEqual([
      [2, 'ENCODING_INVALID'],
      [3, 'LINE_TOO_LONG'],
      [5, 'DUPLICATE_ID'],
    ]);
    const overflow = Buffer.concat([Buffer.from('{"_id":"a"}\n'), inString, Buffer.from('\n{"_id":"b"}\n{"_id":"c","n":1e999999}\n')]);
    const refused = tarball('overflow-after.tar.zst', overflow);
    const e = (
      await importer('s_overflow_after').import(refused, { onInvalid: 'reject', rejectPath: join(dir, 'overflow-after.rejects') })
    )._unsafeUnwrapErr();
    expect(e.code).toBe('DB_ERROR');
    expect(e.context).toMatchObject({ member: 'linksets.ndjson', line: 4 });
  });

  it.for(['fail', 'reject'] as const)(
    'a line over maxLineBytes in a member no table is configured for does not stop the import (onInvalid: %s)',
    async (onInvalid, ctx) => {
      needsTools(ctx);
      const members: HandMember[] = [
        // First in the archive, so the second read that locates the duplicate below drains it too.
        { name: 'notes.ndjson', text: `{"n":"${'x'.repeat(5000)}"}\n` },
        { name: 'linksets.ndjson', text: ndjson(onInvalid === 'reject' ? [{ _id: 'a' }, { _id: 'b' }, { _id: 'a' }] : [{ _id: 'a' }]) },
        { name: 'advisory_chunks.ndjson', text: ndjson([{ _id: 'c' }]) },
      ];
      const path = handTarball(dir, `unconfigured-${onInvalid}.tar.zst`, members);
      const rejectPath = join(dir, `unconfigured-${onInvalid}.rejects.ndjson`);
      const report = (
        await importer(`s_unconfigured_${onInvalid}`).import(path, { onInvalid, rejectPath, maxLineBytes: 1024 })
      )._unsafeUnwrap();
      expect(report.committed).toBe(true);
      expect(report.rejected).toBe(onInvalid === 'reject' ? 1 : 0);
      if (onInvalid === 'reject')
        expect(readRejects(rejectPath).map((r) => [r.member, r.line, r.code])).toEqual([['linksets.ndjson', 3, 'DUPLICATE_ID']]);
    },
  );
});
