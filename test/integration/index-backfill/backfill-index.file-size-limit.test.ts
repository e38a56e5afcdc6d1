/**
 * The backfill runs under a file-size limit (`ulimit -f`, a systemd
 * `LimitFSIZE=`) that the index reaches part-way through the run. The
 * kernel then writes a row only up to the limit (Node ignores SIGXFSZ),
 * so half a row stayed at the end of the index, and the receiver, which
 * runs without that limit, glued its next row onto it: both unreadable.
 * The free-space check before each row cannot see this limit. The run
 * must stop before a row that would pass it, leaving whole lines only.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { smallTree } from './episode-tree.js';

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const cliMain = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

/** `index backfill` run as the CLI runs, under `ulimit -f <blocks>` (1024-byte blocks). */
function backfillUnderLimit(blocks: number, root: string, index: string): { status: number | null; signal: string | null; stderr: string } {
  const run = spawnSync(
    'bash',
    [
      '-c',
      `ulimit -f ${blocks}; exec "$@"`,
      'bash',
      process.execPath,
      '--import',
      tsxLoader,
      cliMain,
      'index',
      'backfill',
      '--episodes-root',
      root,
      '--index',
      index,
      '--concurrency',
      '2',
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' } },
  );
  return { status: run.status, signal: run.signal, stderr: run.stderr };
}

const rowIds = (text: string): string[] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { episode_id: string }).episode_id);

describe('backfillIndex under a file-size limit', () => {
  it('stops before a row that would pass the limit, leaving whole lines only, and a later run appends the rest', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `ep${String(i).padStart(3, '0')}`);
    const { root, index } = await smallTree('fsize', ids);
    writeFileSync(index, '');

    // 8 KiB: room for about 28 rows of the 40, and no row ends exactly at the limit.
    const limited = backfillUnderLimit(8, root, index);
    expect(limited.signal).toBeNull();
    expect(limited.status).not.toBe(0);
    expect(limited.stderr).toContain('IO_ERROR');
    expect(limited.stderr).toContain('file-size limit');
    const size = statSync(index).size;
    expect(size).toBeLessThanOrEqual(8 * 1024);
    const text = readFileSync(index, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const written = rowIds(text); // every line parses: none was cut short
    expect(written.length).toBeGreaterThan(0);
    expect(written.length).toBeLessThan(ids.length);
    expect(written).toEqual(ids.slice(0, written.length));

    // The receiver (no such limit) appends its next row: it stays a line of its own.
    appendFileSync(index, '{"episode_id": "from-the-receiver", "host_id": "h"}\n');
    expect(rowIds(readFileSync(index, 'utf8')).at(-1)).toBe('from-the-receiver');

    const second = (await backfillIndex({ episodesRoot: root, index, concurrency: 2 }))._unsafeUnwrap();
    expect(second.appended).toBe(ids.length - written.length);
    expect(rowIds(readFileSync(index, 'utf8')).filter((id) => id !== 'from-the-receiver')).toEqual(ids);
  });
});
