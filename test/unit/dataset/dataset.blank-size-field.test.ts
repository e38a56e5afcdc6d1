/**
 * A header whose size field holds only blanks (after one NUL, which GNU tar
 * skips) is no number to GNU tar: it says "Blanks in header where numeric
 * off_t value expected", skips the header, extracts the entries after it and
 * exits 2. The reader read the size as 0 and handed out an empty member that
 * `tar -x` never makes; it now refuses the header as TAR_CORRUPT.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'vitest';
import { readOutcome } from '../../support/read-outcome.js';
import { tarHeader, tarMember, withChecksum } from '../../support/tar-blocks.js';
import { needTools, sh, tempDir } from '../../support/tmp.js';

const tools = needTools('tar');
const dir = tempDir('bk-blank-size-');
const record = Buffer.from('{"_id":"a"}\n');

describe('a size field of blanks', () => {
  it.skipIf(tools.missing).for([
    ['twelve spaces', Buffer.alloc(12, 0x20)],
    ['a NUL, then spaces', Buffer.concat([Buffer.alloc(1), Buffer.alloc(11, 0x20)])],
    ['tabs and spaces', Buffer.from('\t \t \t \t \t \t ')],
  ] as const)(tools.title('%s: GNU tar skips the header, and the reader refuses it'), async ([label, field], { expect }) => {
    const header = tarHeader('empty.ndjson', 0, '0');
    field.copy(header, 124);
    const file = join(dir, `${label.replace(/\W/g, '_')}.tar`);
    writeFileSync(file, Buffer.concat([withChecksum(header), tarMember('b.ndjson', record), Buffer.alloc(1024)]));
    const extracted = sh(`cd '${dir}' && rm -rf out && mkdir out && cd out && { tar -xf '${file}' 2>&1; echo "rc=$?"; ls; }`);
    expect(extracted).toMatch(/Blanks in header where numeric off_t value expected[\s\S]*rc=2\nb\.ndjson\n$/);
    expect(await readOutcome(file)).toMatch(/^TAR_CORRUPT: tar header at tar byte 0 has an invalid size field/);
    expect(await readOutcome(Readable.from([readFileSync(file)]))).toMatch(
      /^TAR_CORRUPT: tar header at tar byte 0 has an invalid size field/,
    );
  });

  it.skipIf(tools.missing)(tools.title('a size field of NULs is still 0, as GNU tar reads it'), async ({ expect }) => {
    const header = tarHeader('empty.ndjson', 0, '0');
    header.fill(0, 124, 136);
    const file = join(dir, 'nuls.tar');
    writeFileSync(file, Buffer.concat([withChecksum(header), tarMember('b.ndjson', record), Buffer.alloc(1024)]));
    expect(sh(`tar -tf '${file}' 2>&1; echo "rc=$?"`)).toBe('empty.ndjson\nb.ndjson\nrc=0\n');
    expect(await readOutcome(file)).toBe('read empty.ndjson,b.ndjson');
  });
});
