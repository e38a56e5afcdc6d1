/**
 * GNU tar reads a GNU long name (`L`) from whole blocks, the padding after
 * its data included, up to the first NUL: a long name whose data holds no
 * NUL goes on into the padding. The reader stopped at the end of the data,
 * so it named the member `abc` where `tar -x` extracts `abcdef.ndjson`, and
 * a manifest could verify a member under a name tar never makes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'vitest';
import { readDataset } from '../../../src/dataset/index.js';
import { padded, tarHeader } from '../../support/tar-blocks.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar');
const dir = tempDir('bk-long-name-padding-');
const record = Buffer.from('{"_id":"a"}\n');

/** A GNU long name whose data is `data`, with `padding` (then zeros) in the rest of its block, before one member. */
function archive(file: string, data: string, padding: string): string {
  const bytes = Buffer.from(data);
  const block = Buffer.alloc(512 * Math.ceil(bytes.length / 512));
  bytes.copy(block);
  Buffer.from(padding).copy(block, bytes.length);
  const path = join(dir, file);
  writeFileSync(
    path,
    Buffer.concat([
      tarHeader('././@LongLink', bytes.length, 'L'),
      block,
      tarHeader('short', record.length, '0'),
      padded(record),
      Buffer.alloc(1024),
    ]),
  );
  return path;
}

async function names(input: string | Readable): Promise<string[]> {
  const read: string[] = [];
  for await (const member of readDataset(input)) {
    read.push(member.name);
    for await (const _ of member.chunks());
  }
  return read;
}

describe('a GNU long name is read through its padding, as GNU tar reads it', () => {
  it.skipIf(tools.missing).for([
    ['no NUL in its data: the name goes on into the padding', 'abc', 'def.ndjson\0junk', 'abcdef.ndjson'],
    ['a NUL in its data: the padding is not read', 'abc.ndjson\0', 'junk', 'abc.ndjson'],
    ['no NUL before the end of the block', 'abc', `/${'d/'.repeat(253)}dd`, `abc/${'d/'.repeat(253)}dd`],
  ] as const)(tools.title('%s'), async ([label, data, padding, expected], { expect }) => {
    const file = archive(`${label.replace(/\W/g, '_')}.tar`, data, padding);
    expect(run('tar', ['-tf', file]).trim().split('\n')).toEqual([expected]);
    expect(await names(file)).toEqual([expected]);
    expect(await names(Readable.from([readFileSync(file)]))).toEqual([expected]);
  });
});
