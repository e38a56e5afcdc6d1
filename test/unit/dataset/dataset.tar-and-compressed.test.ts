/**
 * A file whose first 512 bytes are a valid tar header and also the start of
 * a gzip stream (the header's bytes in gzip's extra field) or of a zstd
 * stream (in a skippable frame) holds two archives: GNU tar's `tar -xf`,
 * which prefers a plain tar when the first block looks like one, extracts
 * the tar those headers make, while `gunzip`, `zstd -dc` and `tar --zstd`
 * read the archive compressed inside, and `gzip -t` and `zstd -t` pass it.
 * The reader read one of the two (gzip's, or the plain tar behind a long
 * skippable frame) as if it were the only one; it now refuses the file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32, deflateRawSync, zstdCompressSync } from 'node:zlib';
import { describe, it } from 'vitest';
import { readOutcome } from '../../support/read-outcome.js';
import { tarHeader, tarMember } from '../../support/tar-blocks.js';
import { needTools, sh, tempDir } from '../../support/tmp.js';

const tools = needTools('tar', 'gzip', 'zstd');
const dir = tempDir('bk-tar-and-compressed-');

const END = Buffer.alloc(1024);
/** What a compression tool reads. */
const inner = Buffer.concat([tarMember('inner.ndjson', Buffer.from('{"_id":"compressed"}\n')), END]);
/** What `tar -xf` reads after the first header. */
const view = Buffer.concat([tarMember('view.ndjson', Buffer.from('{"_id":"plain"}\n')), END]);

/** gzip with FEXTRA: its first 12 bytes name a directory entry, and the extra field holds the rest of that header and `view`. */
function gzipPolyglot(): Buffer {
  const xlen = Buffer.alloc(2);
  xlen.writeUInt16LE(512 - 12 + view.length);
  const start = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0x03]), xlen]);
  const header = tarHeader(start, 0, '5');
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(inner), 0);
  trailer.writeUInt32LE(inner.length, 4);
  return Buffer.concat([header, view, deflateRawSync(inner), trailer]);
}

/** A skippable frame whose first 8 bytes (magic and size) name a directory entry and whose data is the rest of that header and `view`, then a zstd frame. */
function zstdPolyglot(): Buffer {
  const start = Buffer.alloc(8);
  start.writeUInt32LE(0x184d2a50, 0);
  start.writeUInt32LE(512 - 8 + view.length, 4);
  return Buffer.concat([tarHeader(start, 0, '5'), view, zstdCompressSync(inner)]);
}

describe('a file that is a plain tar and a compressed one at once', () => {
  it.skipIf(tools.missing).for([
    ['gzip', gzipPolyglot, 'gzip -t', 'gzip -dc'],
    ['zstd', zstdPolyglot, 'zstd -qt', 'zstd -qdc'],
  ] as const)(
    tools.title('%s: tar -xf and the compression tool read two archives; the reader refuses it'),
    async ([name, build, test, decompress], { expect }) => {
      const file = join(dir, `polyglot.tar.${name}`);
      writeFileSync(file, build());
      // The oracles: the compressed stream is valid, and the two readers list different members.
      expect(sh(`${test} '${file}' && echo valid`).trim()).toBe('valid');
      expect(sh(`tar -tf '${file}' | tail -n 1`).trim()).toBe('view.ndjson');
      expect(sh(`${decompress} '${file}' | tar -tf -`).trim()).toBe('inner.ndjson');
      const refused = /^UNSUPPORTED_FORMAT: .* starts with a tar header and with a (gzip|zstd) stream at once/;
      expect(await readOutcome(file)).toMatch(refused);
      expect(await readOutcome(Readable.from([readFileSync(file)]))).toMatch(refused);
    },
  );
});
