import { writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIndexedEpisodeIds } from '../../../src/index-backfill/existing-index.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-index-read-'));
let files = 0;

/** Reads `text` as an index with every read size in `readSizes`. */
async function readAll(
  text: string | Buffer,
  maxLineBytes: number,
  readSizes: readonly number[],
): Promise<{ ids: string[]; error: unknown }[]> {
  files += 1;
  const path = join(dir, `index-${files}.jsonl`);
  writeFileSync(path, text);
  const out: { ids: string[]; error: unknown }[] = [];
  for (const readBytes of readSizes) {
    const r = await readIndexedEpisodeIds(path, { maxLineBytes, readBytes, warn: () => {} });
    out.push(r.isOk() ? { ids: [...r.value].sort(), error: undefined } : { ids: [], error: r.error });
  }
  return out;
}

const everySize = (text: string): number[] => Array.from({ length: Buffer.byteLength(text) + 1 }, (_, i) => i + 1);
/** A row whose line is exactly `bytes` long. */
const rowOf = (id: string, bytes: number): string => {
  const shell = `{"episode_id": "${id}", "pad": ""}`;
  return shell.replace('"pad": ""', `"pad": "${'p'.repeat(bytes - shell.length)}"`);
};

describe('readIndexedEpisodeIds line limit', () => {
  it('reads a line of exactly the limit, with LF, CRLF (CR and LF in different reads) or no final newline', async () => {
    const long = rowOf('long', 64);
    for (const text of [`{"episode_id": "a"}\n${long}\n{"episode_id": "b"}\n`, `{"episode_id": "a"}\r\n${long}\r\n{"episode_id": "b"}`]) {
      for (const got of await readAll(text, 64, everySize(text))) expect(got).toEqual({ ids: ['a', 'b', 'long'], error: undefined });
    }
  });

  it('refuses one byte over with LINE_TOO_LONG naming the line and the limit, however the reads fall', async () => {
    const over = rowOf('over', 65);
    for (const text of [`{"episode_id": "a"}\n\n${over}\n`, `{"episode_id": "a"}\r\n\r\n${over}\r\n`, `{"episode_id": "a"}\n\n${over}`]) {
      for (const { error } of await readAll(text, 64, everySize(text))) {
        expect(error).toMatchObject({ code: 'LINE_TOO_LONG', context: { line: 3, limit: 64 } });
        expect((error as Error).message).toMatch(
          /line 3: longer than 64 bytes.*Nothing was appended.*maxIndexLineBytes \(--max-index-line-bytes\)/,
        );
      }
    }
  });

  it('counts UTF-8 bytes, not characters, and a BOM as part of the first line (as Python reads it)', async () => {
    const accented = `{"episode_id": "${'é'.repeat(8)}"}`; // 26 characters, 34 bytes
    expect(await readAll(`${accented}\n`, 34, [1, 4, 1024])).toEqual(Array(3).fill({ ids: ['é'.repeat(8)], error: undefined }));
    for (const { error } of await readAll(`${accented}\n`, 33, [1, 4, 1024]))
      expect(error).toMatchObject({ code: 'LINE_TOO_LONG', context: { line: 1 } });
    const plain = '{"episode_id": "b"}'; // 19 bytes
    for (const { error } of await readAll(`\uFEFF${plain}\n`, 21, [1, 2, 1024]))
      expect(error).toMatchObject({ code: 'LINE_TOO_LONG', context: { line: 1 } });
    expect(await readAll(`\uFEFF${plain}\n`, 22, [1, 2, 1024])).toEqual(Array(3).fill({ ids: [], error: undefined }));
  });

  it('stops at the limit on a line that never ends instead of holding it all', async () => {
    const text = `{"episode_id": "a"}\n${'x'.repeat(10_000)}`;
    for (const { error } of await readAll(text, 100, [7, 4096]))
      expect(error).toMatchObject({ code: 'LINE_TOO_LONG', context: { line: 2, limit: 100 } });
  });

  it('finds the id in a long line spread over many reads', async () => {
    const big = rowOf('big', 300_000);
    for (const got of await readAll(`${big}\r\n{"episode_id": "next"}\n`, 1 << 20, [1000, 4096, 65_536]))
      expect(got).toEqual({ ids: ['big', 'next'], error: undefined });
  });
});
