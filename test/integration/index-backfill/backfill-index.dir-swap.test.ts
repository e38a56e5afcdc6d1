/**
 * Root running the backfill on an index in a directory of its own inside a
 * directory another user owns: that user can swap the index's directory
 * for a symbolic link while the run goes on. The index is opened in the
 * directory the run started in, so the link is not followed: root creates
 * no file where the link leads (a directory of root's), and the run stops
 * as for any index replaced while it runs.
 */
import { chownSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../cli/cli-harness.js';
import { RECEIVER_UID, receiverTree, scratch } from './episode-tree.js';

const isRoot = process.geteuid?.() === 0;
const preload = fileURLToPath(new URL('../../support/pause-before-append-open.mjs', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!isRoot)(
  `index backfill as root, the index's directory swapped for a link mid-run${isRoot ? '' : ' (skipped: needs root)'}`,
  () => {
    it('creates no index where the link leads, and stops with IO_ERROR', async () => {
      const { lib, root } = await receiverTree('dir-swap');
      expect(statSync(lib).uid).toBe(RECEIVER_UID);
      // The index's directory is root's (so root may create the index there), inside the receiver's directory.
      const own = join(lib, 'own');
      mkdirSync(own);
      chownSync(own, 0, 0);
      const index = join(own, 'index.jsonl');
      const elsewhere = scratch('dir-swap-target');
      const signal = join(scratch('dir-swap-signal'), 'paused');
      const run = cli(['index', 'backfill', '--episodes-root', root, '--index', index], {
        nodeOptions: ['--import', preload],
        env: { PAUSE_BEFORE_OPEN_OF: 'index.jsonl', PAUSE_SIGNAL: signal },
        killAfterMs: 60_000,
      });
      while (!existsSync(signal)) await sleep(5);
      // What the receiver's user can do in its directory: move root's directory away and put a link in its place.
      renameSync(own, join(lib, 'own.old'));
      symlinkSync(elsewhere, own);
      rmSync(signal);
      const done = await run;
      expect(readdirSync(elsewhere)).toEqual([]);
      expect(done.code, done.stderr).toBe(8);
      expect(done.stdout + done.stderr).toContain('IO_ERROR');
    });
  },
);
