/**
 * A manifest and an archive that name a member in two look-alike ways (NFC
 * and NFD, upper and lower case, a trailing space): the two are different
 * members, as on Linux, but the report's two problems would print the same
 * name twice, missing on each side. Each problem spells out the other name.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyDataset } from '../../../src/verify/index.js';
import { tarMember } from '../../support/tar-blocks.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar');
const dir = tempDir('bk-look-alike-');
const data = Buffer.from('{"id":"1"}\n');

/** A plain tar whose manifest lists `listed` and which holds `held`. */
function archive(file: string, listed: string, held: string): string {
  const manifest = {
    schemaVersion: 1,
    members: [{ name: listed, records: 1, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') }],
  };
  const path = join(dir, file);
  writeFileSync(
    path,
    Buffer.concat([tarMember('manifest.json', Buffer.from(JSON.stringify(manifest))), tarMember(held, data), Buffer.alloc(1024)]),
  );
  return path;
}

describe.skipIf(tools.missing)('verifyDataset and look-alike member names', () => {
  it.for([
    ['NFC in the manifest, NFD in the archive', '\u00e9.ndjson', 'e\u0301.ndjson', '"\\u00e9.ndjson"', '"e\\u0301.ndjson"'],
    ['upper case in the manifest', 'A.ndjson', 'a.ndjson', '"A.ndjson"', '"a.ndjson"'],
    ['a trailing space in the archive', 'a.ndjson', 'a.ndjson ', '"a.ndjson"', '"a.ndjson "'],
  ])(tools.title('%s: each problem names the other spelling'), async ([, listed, held, listedShown, heldShown]) => {
    const path = archive(`${Buffer.from(held!).toString('hex')}.tar`, listed!, held!);
    // GNU tar lists the member under the bytes the archive holds.
    expect(run('tar', ['-tf', path]).split('\n').filter(Boolean)).toEqual(['manifest.json', held]);
    const report = (await verifyDataset(path))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.members.map((m) => [m.name, m.verdict])).toEqual([
      [listed, 'missing-from-archive'],
      [held, 'missing-from-manifest'],
    ]);
    expect(report.problems.map((p) => p.message)).toEqual([
      expect.stringContaining(
        `listed in manifest.json but not in the archive; the archive has ${heldShown}, which differs from ${listedShown}`,
      ),
      expect.stringContaining(
        `in the archive but not listed in manifest.json; the manifest lists ${listedShown}, which differs from ${heldShown}`,
      ),
    ]);
  });

  it(tools.title('names that only share letters are not called look-alikes'), async () => {
    const report = (await verifyDataset(archive('apart.tar', 'a.ndjson', 'b.ndjson')))._unsafeUnwrap();
    expect(report.problems.map((p) => p.message)).toEqual([
      'a.ndjson: listed in manifest.json but not in the archive.',
      'b.ndjson: in the archive but not listed in manifest.json.',
    ]);
  });
});
