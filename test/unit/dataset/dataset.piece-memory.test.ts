import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { run, tempDir } from '../../support/tmp.js';

// A file's decoded pieces are freed as soon as the reader moves past them,
// unless something handed out still refers to them. Whatever a caller holds
// on to must keep its bytes; GNU tar is the oracle for what they are.
const dir = tempDir('bk-piece-memory-');
const file = join(dir, 'pieces.tar.zst');

/** Short lines, then lines longer than a decoded piece (512 KiB), then short lines again. */
function memberLines(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) lines.push(JSON.stringify({ i, s: 'x'.repeat(i % 300) }));
  for (let i = 0; i < 6; i++) lines.push(JSON.stringify({ long: i, s: String(i).repeat(700_000 + i * 10_000) }));
  for (let i = 0; i < 20_000; i++) lines.push(JSON.stringify({ j: i, s: 'ü'.repeat(i % 200) }));
  return lines;
}

const ready = writeDataset(file, { members: { 'm.ndjson': memberLines(), 'n.ndjson': ['{"a":1}'] } });

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The member's bytes as GNU tar extracts them. */
function oracle(): string {
  return sha256(Buffer.from(run('bash', ['-c', `zstd -dc '${file}' | tar -xO m.ndjson | base64 -w0`]), 'base64'));
}

describe('decoded pieces are freed only when nothing handed out refers to them', () => {
  it('chunks kept until the end still hold their bytes', async () => {
    expect((await ready).isOk()).toBe(true);
    const kept: Buffer[] = [];
    for await (const member of readDataset(file)) if (member.name === 'm.ndjson') for await (const c of member.chunks()) kept.push(c);
    expect(sha256(Buffer.concat(kept))).toBe(oracle());
  });

  it('undecoded lines kept until the end still hold their bytes', async () => {
    await ready;
    const kept: Buffer[] = [];
    for await (const member of readDataset(file)) {
      if (member.name !== 'm.ndjson') continue;
      for await (const batch of member.lineBatches({ encoding: 'buffer' })) for (const { raw } of batch) kept.push(raw, Buffer.from('\n'));
    }
    expect(sha256(Buffer.concat(kept))).toBe(oracle());
  });

  it('string lines and records across piece boundaries, short and longer than a piece, are whole', async () => {
    await ready;
    const lines: string[] = [];
    let records = 0;
    for await (const member of readDataset(file)) {
      if (member.name !== 'm.ndjson') continue;
      for await (const batch of member.lineBatches()) for (const { raw } of batch) lines.push(raw);
    }
    expect(sha256(`${lines.join('\n')}\n`)).toBe(oracle());
    for await (const member of readDataset(file))
      if (member.name === 'm.ndjson') for await (const b of member.recordBatches()) records += b.length;
    expect(records).toBe(40_006);
  });

  it('scan() counts and hashes what GNU tar extracts, and the manifest survives its piece', async () => {
    await ready;
    const scanned = await readDataset(file).scan();
    expect(scanned.isOk()).toBe(true);
    if (scanned.isErr()) return;
    const m = scanned.value.stats.members.find((x) => x.name === 'm.ndjson');
    expect(m?.sha256).toBe(oracle());
    expect(m?.records).toBe(40_006);
    expect(scanned.value.manifest.members.map((x) => x.name)).toEqual(expect.arrayContaining(['m.ndjson', 'n.ndjson']));
    expect(readFileSync(file).length).toBeGreaterThan(0);
  });
});
