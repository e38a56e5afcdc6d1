/**
 * An index path that names no regular file. A FIFO (a named pipe, e.g. a
 * process substitution's `/dev/fd/63`, or one left where the index was)
 * blocked the run for ever in its first read: opening a FIFO waits for a
 * writer, in a thread that even SIGTERM, twice, could not get the process out of.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../cli/cli-harness.js';
import { smallTree } from './episode-tree.js';

describe('index backfill --index naming no regular file', () => {
  it.for([
    { run: 'a dry run', extra: ['--dry-run'] },
    { run: 'a run', extra: [] },
  ])('a FIFO is IO_ERROR (exit 8) at once, in $run', { timeout: 60_000 }, async ({ extra }) => {
    const { dir, root } = await smallTree('index-fifo', ['e1']);
    const fifo = join(dir, 'index.jsonl');
    execFileSync('mkfifo', [fifo]);
    let pid: number | undefined;
    const run = cli(['index', 'backfill', '--episodes-root', root, '--index', fifo, ...extra], { onSpawn: (p) => (pid = p) });
    const kill = setTimeout(() => process.kill(pid!, 'SIGKILL'), 20_000);
    const r = await run;
    clearTimeout(kill);
    expect(r.signal, 'still blocked on the FIFO after 20 s').toBeNull();
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toMatch(/^error IO_ERROR: .*is not a regular file but a FIFO/m);
  });
});
