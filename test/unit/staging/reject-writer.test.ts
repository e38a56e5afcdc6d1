import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RejectWriter } from '../../../src/staging/reject-writer.js';

describe('RejectWriter', () => {
  it('writes one NDJSON line per entry, raw line unchanged, and counts them', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'bk-rejects-')), 'r.ndjson');
    const w = (await RejectWriter.open(path))._unsafeUnwrap();
    const raw = '{"_id": "tab\there", oops';
    await w.write({ member: 'linksets.ndjson', line: 4, code: 'JSON_MALFORMED', reason: 'linksets.ndjson line 4: not valid JSON', raw });
    for (let i = 0; i < 5000; i += 1)
      await w.write({ member: 'm', line: i, code: 'RECORD_INVALID', reason: 'x'.repeat(100), raw: 'y'.repeat(200) });
    expect((await w.close())._unsafeUnwrap()).toBe(5001);
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines).toHaveLength(5002);
    expect(lines.at(-1)).toBe('');
    expect(JSON.parse(lines[0]!)).toEqual({
      member: 'linksets.ndjson',
      line: 4,
      code: 'JSON_MALFORMED',
      reason: 'linksets.ndjson line 4: not valid JSON',
      raw,
    });
  });

  it('reports an unwritable path as IO_ERROR', async () => {
    const r = await RejectWriter.open(join(tmpdir(), 'no-such-dir-bk', 'x', 'r.ndjson'));
    expect(r._unsafeUnwrapErr().code).toBe('IO_ERROR');
  });

  it('refuses a FIFO at the path at once, with or without a reader, and writes nothing to it', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'bk-rejects-')), 'r.ndjson');
    execFileSync('mkfifo', [path]);
    const alone = await RejectWriter.open(path);
    expect(alone._unsafeUnwrapErr().code).toBe('IO_ERROR');
    expect(alone._unsafeUnwrapErr().message).toContain('is a named pipe (FIFO) with no reader, or a socket');
    // A reader at the other end (whoever planted the FIFO) gets nothing either.
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const read = await RejectWriter.open(path);
      expect(read._unsafeUnwrapErr().message).toContain('is a named pipe (FIFO); the reject file is written only as a regular file');
      let got: number;
      try {
        got = readSync(reader, Buffer.alloc(64));
      } catch (error) {
        // EAGAIN: nothing was written (a writer may still be closing).
        expect((error as NodeJS.ErrnoException).code).toBe('EAGAIN');
        got = 0;
      }
      expect(got).toBe(0);
    } finally {
      closeSync(reader);
    }
  });

  it('refuses a device', async () => {
    const r = await RejectWriter.open('/dev/null');
    expect(r._unsafeUnwrapErr().message).toContain('/dev/null is a character device');
  });
});
