/**
 * writeDataset refuses a line longer than the readers' default maxLineBytes
 * (64 MiB), so as not to write a dataset they refuse; its error said "raise
 * maxLineBytes", an option writeDataset does not have.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LINE_BYTES, writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-long-line-');

describe('writeDataset: a line longer than readers take', () => {
  it('is LINE_TOO_LONG, naming the member and line, with advice writeDataset can follow', async () => {
    const file = join(dir, 'long.ndjson');
    writeFileSync(file, `{"_id":"1"}\n{"_id":"2","pad":"${'x'.repeat(DEFAULT_MAX_LINE_BYTES)}"}\n`);
    for (const source of [[{ _id: '1', pad: 'x'.repeat(DEFAULT_MAX_LINE_BYTES) }], { file }]) {
      const out = join(dir, 'out.tar.zst');
      const r = await writeDataset(out, { members: { 'a.ndjson': source } });
      expect(r.isErr() && r.error.code).toBe('LINE_TOO_LONG');
      const message = r.isErr() ? r.error.message : '';
      expect(message).toMatch(/^a\.ndjson line [12]: longer than maxLineBytes \(67108864\); the longest line readers take by default/);
      expect(message).not.toMatch(/raise maxLineBytes/);
      expect(existsSync(out)).toBe(false);
    }
  }, 120_000);
});
