/**
 * A manifest.json whose bytes are not UTF-8 was decoded with U+FFFD in
 * place of the bad bytes, so a manifest naming `a\xff.ndjson` verified the
 * member `a\u{fffd}.ndjson` (which tar extracts under the bytes EF BF BD),
 * and its counts and digests were checked, where JSON readers that decode
 * strictly (Python's json) refuse the file and others read other text. NDJSON
 * lines that are not UTF-8 were already refused (ENCODING_INVALID); the
 * manifest now is too, as MANIFEST_INVALID.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { tarMember } from '../../support/tar-blocks.js';
import { needTools, sh, tempDir } from '../../support/tmp.js';

const tools = needTools('python3');
const dir = tempDir('bk-manifest-utf8-');
const body = Buffer.from('{"_id":"a"}\n');
const sha = createHash('sha256').update(body).digest('hex');

/** A plain tar of `manifest.json` (its name as `nameBytes`) and the member `a\u{fffd}.ndjson`. */
function archive(file: string, nameBytes: Buffer): string {
  const manifest = Buffer.concat([
    Buffer.from('{"schemaVersion":1,"members":[{"name":"'),
    nameBytes,
    Buffer.from(`","records":1,"bytes":${body.length},"sha256":"${sha}"}]}`),
  ]);
  const path = join(dir, file);
  writeFileSync(path, Buffer.concat([tarMember('manifest.json', manifest), tarMember('a\u{fffd}.ndjson', body), Buffer.alloc(1024)]));
  sh(`cd '${dir}' && rm -rf x && mkdir x && tar -xf '${path}' -C x`);
  writeFileSync(`${path}.manifest.json`, readFileSync(join(dir, 'x', 'manifest.json')));
  return path;
}

describe('a manifest.json that is not UTF-8', () => {
  it.skipIf(tools.missing)(tools.title('is MANIFEST_INVALID, where a strict JSON reader refuses it too'), async () => {
    const file = archive('latin1.tar', Buffer.from('a\xff.ndjson', 'latin1'));
    expect(sh(`python3 -c 'import json,sys; json.load(open(sys.argv[1], "rb"))' '${file}.manifest.json' 2>&1 || echo refused`)).toMatch(
      /UnicodeDecodeError[\s\S]*refused/,
    );
    for (const input of [file, Readable.from([readFileSync(file)])]) {
      const manifest = await readDataset(input).manifest();
      expect(manifest.isErr() && [manifest.error.code, manifest.error.message]).toEqual([
        'MANIFEST_INVALID',
        'manifest.json: is not UTF-8; JSON readers that decode it strictly refuse it, others read other text: re-encode it as UTF-8.',
      ]);
    }
    const report = (await verifyDataset(file))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain('MANIFEST_INVALID');
  });

  it('the same manifest in UTF-8 verifies', async () => {
    const file = archive('utf8.tar', Buffer.from('a\u{fffd}.ndjson'));
    const report = (await verifyDataset(file))._unsafeUnwrap();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
