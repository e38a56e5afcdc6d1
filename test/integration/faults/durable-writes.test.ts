/**
 * Files the kit writes under a temporary name and renames into place (a
 * dataset tarball, its `.sha256` file, `SHA256SUMS`) must survive a power
 * cut, not only a killed process: the new file's data reach the disk
 * before the rename (fdatasync), and the rename once its directory is
 * synced (fsync). strace, an independent tool, records the system calls
 * the writes make, in order.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needTools } from '../../support/tmp.js';

const tools = needTools('strace');
const src = (path: string): string => pathToFileURL(fileURLToPath(new URL(`../../../src/${path}`, import.meta.url))).href;
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-durable-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The fdatasync, fsync and rename calls of `script` run with `out`, as `[call, path…]`, in the order they were made. */
function syncCalls(script: string, out: string): string[][] {
  const log = join(dir, 'strace.log');
  const file = join(dir, 'write.mts');
  writeFileSync(file, script);
  const run = spawnSync(
    'strace',
    [
      '-f',
      '-qq',
      '-y',
      '-e',
      'trace=fsync,fdatasync,rename,renameat,renameat2',
      '-e',
      'signal=none',
      '-o',
      log,
      process.execPath,
      '--import',
      tsx,
      file,
      out,
    ],
    { encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  return readFileSync(log, 'utf8')
    .split('\n')
    .map((line) => /^\d+\s+(\w+)\((.*)\)\s+=\s+0$/.exec(line))
    .filter((m) => m !== null)
    .map(([, call, args]) => [call as string, ...[...(args as string).matchAll(/<([^>]*)>|"([^"]*)"/g)].map((a) => a[1] ?? a[2] ?? '')]);
}

/** Whether `calls` sync `temp`'s data, then rename it to `target`, then sync `target`'s directory. */
function syncedAroundRename(calls: readonly string[][], target: string, folder: string): boolean {
  const renamed = calls.findIndex(([call, , to]) => call?.startsWith('rename') && to === target);
  if (renamed === -1) return false;
  const temp = calls[renamed]?.[1];
  const dataSynced = calls.slice(0, renamed).some(([call, path]) => call === 'fdatasync' && path === temp);
  const folderSynced = calls.slice(renamed + 1).some(([call, path]) => call === 'fsync' && path === folder);
  return dataSynced && folderSynced;
}

describe.skipIf(tools.missing)(tools.title('writes that survive a power cut'), () => {
  it('a dataset tarball, its .sha256 file and SHA256SUMS: data synced before the rename, the directory after', () => {
    const out = join(dir, 'out');
    mkdirSync(out);
    const calls = syncCalls(
      `import { writeDataset } from '${src('dataset/index.ts')}';
import { writeChecksums } from '${src('verify/index.ts')}';
import { writeFileAtomic } from '${src('_internals/write-file-atomic.ts')}';
const out = process.argv[2];
const written = await writeDataset(out + '/ds.tar.zst', { members: { 'a.ndjson': [{ a: 1 }] } });
if (written.isErr()) throw written.error;
await writeFileAtomic(out + '/ds.tar.zst.sha256', written.value.sha256 + '  ds.tar.zst\\n');
const sums = await writeChecksums(['ds.tar.zst'], out + '/SHA256SUMS');
if (sums.isErr()) throw sums.error;
`,
      out,
    );
    expect(syncedAroundRename(calls, join(out, 'ds.tar.zst'), out)).toBe(true);
    expect(syncedAroundRename(calls, join(out, 'ds.tar.zst.sha256'), out)).toBe(true);
    expect(syncedAroundRename(calls, join(out, 'SHA256SUMS'), out)).toBe(true);
  });
});
