import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIndexedEpisodeIds } from '../../../src/index-backfill/existing-index.js';
import { peerAvailable, peerPath, peerSkipReason, scratch } from './episode-tree.js';

/** The peer's own reader, `_existing_episode_ids`, imported from the runbook tool's file. */
function peerIds(index: string): string[] {
  const code = `import json, sys\nfrom pathlib import Path\nsys.path.insert(0, ${JSON.stringify(dirname(peerPath))})\nimport index_backfill as m\nprint(json.dumps(sorted(m._existing_episode_ids(Path(sys.argv[1])))))`;
  const r = spawnSync('python3', ['-c', code, index], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as string[];
}

describe.skipIf(!peerAvailable)(
  `reading the existing index like the runbook's tool${peerAvailable ? '' : ` (skipped: ${peerSkipReason})`}`,
  () => {
    it('finds the same episode ids on a hostile index', async () => {
      const dir = scratch('index');
      const index = join(dir, 'index.jsonl');
      const before = [
        '{"episode_id": "plain"}',
        '{"episode_id": "crlf"}\r',
        '{"episode_id": "cr-only"}\r{"episode_id": "after-cr"}',
        '{"episode_id": "split\u2028by-ls"}',
        '{"episode_id": "nan", "v": NaN, "w": -Infinity}',
        '\ufeff{"episode_id": "bom"}',
        '   ',
        '\x1c\x1d',
        '{"episode_id": 7}',
        '{"episode_id": null}',
        '{"other": "x"}',
        '{"episode_id": "dup"}',
        '{"episode_id": "dup"}',
        '{"episode_id": "unicode-é-😀"}',
        '{"episode_id": "escaped-\\u00e9"}',
        '{"episode_id": "trailing", }',
      ].join('\n');
      // Put the \r of a \r\n pair on the last byte of the reader's first 1 MiB chunk.
      const shell = `\n{"pad": "", "episode_id": "straddles-a-chunk"}\r`;
      const pad = 'x'.repeat(1024 * 1024 - Buffer.byteLength(before) - Buffer.byteLength(shell));
      const text = `${before}${shell.replace('"pad": ""', `"pad": "${pad}"`)}\n{"episode_id": "after-boundary"}\n{"episode_id": "no-final-newline"}`;
      expect(Buffer.from(text).indexOf('\r\n{"episode_id": "after-boundary"}')).toBe(1024 * 1024 - 1);
      writeFileSync(index, text);
      const ours = (await readIndexedEpisodeIds(index, { maxLineBytes: 1 << 20, warn: () => {} }))._unsafeUnwrap();
      expect([...ours].sort()).toEqual(peerIds(index).sort());
      expect(ours.has('after-cr')).toBe(true);
      expect(ours.has('nan')).toBe(true);
      expect(ours.has('split\u2028by-ls')).toBe(false);
    });

    it('treats a missing index as empty', async () => {
      const index = join(scratch('none'), 'missing.jsonl');
      expect((await readIndexedEpisodeIds(index, { maxLineBytes: 1 << 20, warn: () => {} }))._unsafeUnwrap().size).toBe(0);
      expect(peerIds(index)).toEqual([]);
    });
  },
);
