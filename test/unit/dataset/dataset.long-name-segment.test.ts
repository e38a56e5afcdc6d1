/**
 * A member name whose one segment (a file's or a directory's own name) is
 * longer than 255 bytes, Linux's NAME_MAX, is one `tar -x` cannot create
 * ("File name too long", exit 2), however short the whole path: the reader
 * read it, and verified and imported a member that tar does not extract,
 * while a name longer than PATH_MAX was already refused for that reason.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/dataset/manifest.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { readOutcome } from '../../support/read-outcome.js';
import { padded, paxPath, tarHeader } from '../../support/tar-blocks.js';
import { needTools, sh, tempDir } from '../../support/tmp.js';

const tools = needTools('tar');
const dir = tempDir('bk-name-segment-');
const record = Buffer.from('{"_id":"a"}\n');

/** A plain tar of one member named `name` (through a PAX path), with its end blocks. */
function archive(file: string, name: string): string {
  const path = join(dir, file);
  writeFileSync(path, Buffer.concat([paxPath(name), tarHeader('placeholder', record.length, '0'), padded(record), Buffer.alloc(1024)]));
  return path;
}

describe('a member name segment longer than 255 bytes', () => {
  it.skipIf(tools.missing).for([
    ['a file named with 256 bytes', `${'f'.repeat(249)}.ndjson`],
    ['a directory named with 256 bytes', `${'d'.repeat(256)}/a.ndjson`],
    ['a file named with 128 two-byte characters', `${'é'.repeat(125)}.ndjson`],
  ] as const)(tools.title('%s: tar -x cannot create it, and the reader refuses it'), async ([label, name], { expect }) => {
    const tar = archive(`${label.replace(/\W/g, '_')}.tar`, name);
    const out = join(dir, `${label.replace(/\W/g, '_')}.out`);
    mkdirSync(out);
    expect(sh(`tar -xf '${tar}' -C '${out}' 2>&1; echo "rc=$?"`)).toMatch(/File name too long[\s\S]*rc=2/);
    expect(await readOutcome(tar)).toMatch(/^MEMBER_PATH_UNSAFE: .* has a path segment of 25[6-9] bytes, longer than the 255 bytes/);
  });

  it.skipIf(tools.missing)(tools.title('a segment of exactly 255 bytes is read, as tar -x extracts it'), async () => {
    const name = `${'d'.repeat(255)}/${'f'.repeat(248)}.ndjson`;
    const tar = archive('at-limit.tar', name);
    const out = join(dir, 'at-limit.out');
    mkdirSync(out);
    expect(sh(`tar -xf '${tar}' -C '${out}' 2>&1; echo "rc=$?"`).trim()).toBe('rc=0');
    expect(await readOutcome(tar)).toBe(`read ${name}`);
  });

  it('writeDataset and parseManifest refuse such a name too', async () => {
    const name = `${'x'.repeat(256)}.ndjson`;
    const written = await writeDataset(join(dir, 'w.tar.zst'), { members: { [name]: [{ _id: 'a' }] } });
    expect(written.isErr() && written.error.code).toBe('MEMBER_PATH_UNSAFE');
    const manifest = parseManifest(JSON.stringify({ schemaVersion: 1, members: [{ name, records: 1 }] }));
    expect(manifest.isErr() && manifest.error.code).toBe('MANIFEST_INVALID');
    expect(manifest.isErr() && manifest.error.message).toMatch(/path segment of 263 bytes/);
  });
});
