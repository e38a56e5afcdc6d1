/**
 * readDataset given the path of something other than a regular file. The
 * reader sniffed the first bytes at offset 0 and then reopened the path on
 * its decode thread: a pipe (`dataset verify <(curl …)`, a FIFO,
 * /dev/stdin) failed with ESPIPE and "check the path and its permissions",
 * and /dev/zero (an empty tar to the sniffer) was hashed for ever.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('mkfifo', 'sha256sum');
const dir = tempDir('bk-pipe-');

describe.skipIf(tools.missing)('readDataset on a path that is not a regular file', () => {
  it(tools.title('reads a FIFO fed by another process as a stream: same members and digest as the file'), async () => {
    const file = join(dir, 'ds.tar.zst');
    const written = (await writeDataset(file, { members: { 'a.ndjson': [{ _id: '1' }, { _id: '2' }] } }))._unsafeUnwrap();
    const fifo = join(dir, 'ds.fifo');
    run('mkfifo', [fifo]);
    for (const read of [() => readDataset(fifo).scan(), () => verifyDataset(fifo, { expectedSha256: written.sha256 }).map((r) => r)]) {
      const writer = spawn('sh', ['-c', `cat '${file}' > '${fifo}'`], { stdio: 'ignore' });
      const exited = new Promise((resolve) => writer.once('exit', resolve));
      const result = await read();
      await exited;
      expect(result.isOk(), result.isErr() ? result.error.message : '').toBe(true);
      const value = result._unsafeUnwrap();
      if ('stats' in value) {
        expect(value.stats.sha256).toBe(run('sha256sum', [file]).slice(0, 64));
        expect(value.stats.members.map((m) => [m.name, m.records])).toEqual([
          ['manifest.json', null],
          ['a.ndjson', 2],
        ]);
      } else {
        expect(value.ok).toBe(true);
        expect(value.archive.verdict).toBe('ok');
      }
    }
  });

  it(tools.title('`dataset verify <(cat tarball)` verifies the piped bytes'), () => {
    const file = join(dir, 'ds.tar.zst');
    const cli = join(__dirname, '../../../src/cli/main.ts');
    const r = spawnSync('bash', ['-c', `npx tsx '${cli}' dataset verify <(cat '${file}') --json`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).report.archive.actualSha256).toBe(run('sha256sum', [file]).slice(0, 64));
  });

  it('refuses a device such as /dev/zero with IO_ERROR at once, instead of hashing it for ever', async () => {
    const result = await Promise.race([
      readDataset('/dev/zero').scan(),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref()),
    ]);
    expect(result).not.toBe('hung');
    if (result === 'hung') return;
    expect(result.isErr() && result.error.code).toBe('IO_ERROR');
    expect(result.isErr() && result.error.message).toMatch(/\/dev\/zero is a character device, not a regular file or a pipe/);
  });
});
