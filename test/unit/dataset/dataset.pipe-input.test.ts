/**
 * readDataset given the path of something other than a regular file. The
 * reader sniffed the first bytes at offset 0 and then reopened the path on
 * its decode thread: a pipe (`dataset verify <(curl …)`, a FIFO) failed
 * with ESPIPE and "check the path and its permissions", and /dev/zero (an
 * empty tar to the sniffer) was hashed for ever. A path may be read twice
 * (the staging importer reads it again to name bad lines), so a pipe, which
 * can be read once, is refused at once too, with what to do instead.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Result } from 'neverthrow';
import { describe, expect, it } from 'vitest';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import type { BackfillError } from '../../../src/errors.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { cli } from '../../integration/cli/cli-harness.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('mkfifo', 'sha256sum');
const dir = tempDir('bk-pipe-');
const file = join(dir, 'ds.tar.zst');
const ready = writeDataset(file, { members: { 'a.ndjson': [{ _id: '1' }, { _id: '2' }] } }).then((r) => r._unsafeUnwrap());

/** Settles with the result, or 'hung' after five seconds. */
function within<T>(work: Promise<T>): Promise<T | 'hung'> {
  return Promise.race([work, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref())]);
}

describe('readDataset on a path that is not a regular file', () => {
  it.skipIf(tools.missing)(tools.title('refuses a FIFO at once, saying what it is and to pass a stream; the stream reads'), async () => {
    await ready;
    const fifo = join(dir, 'ds.fifo');
    run('mkfifo', [fifo]);
    const reads: (() => Promise<Result<unknown, BackfillError>>)[] = [
      async () => await readDataset(fifo).scan(),
      async () => await verifyDataset(fifo, { useSiblingChecksums: false }),
    ];
    for (const read of reads) {
      const result = await within(read());
      expect(result).not.toBe('hung');
      if (result === 'hung') return;
      expect(result.isErr() && result.error.code).toBe('IO_ERROR');
      expect(result.isErr() && result.error.message).toMatch(/ds\.fifo is a named pipe \(FIFO\), not a regular file; .*pass a stream/);
    }
    const streamed = (await readDataset(createReadStream(file)).scan())._unsafeUnwrap();
    expect(streamed.stats.sha256).toBe(run('sha256sum', [file]).slice(0, 64));
  });

  it.skipIf(tools.missing)(
    tools.title('`dataset verify <(cat tarball)` says the same instead of ESPIPE and "check permissions"'),
    async () => {
      await ready;
      const r = await cli(['dataset', 'verify'], { shellWords: `<(cat '${file}')` });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/\/dev\/fd\/\d+ is a named pipe \(FIFO\), not a regular file/);
      expect(r.stderr).not.toMatch(/ESPIPE/);
    },
  );

  it('refuses a device such as /dev/zero with IO_ERROR at once, instead of hashing it for ever', async () => {
    const result = await within((async () => await readDataset('/dev/zero').scan())());
    expect(result).not.toBe('hung');
    if (result === 'hung') return;
    expect(result.isErr() && result.error.code).toBe('IO_ERROR');
    expect(result.isErr() && result.error.message).toMatch(/\/dev\/zero is a character device, not a regular file/);
  });
});
