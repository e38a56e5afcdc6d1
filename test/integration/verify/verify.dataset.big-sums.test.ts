/**
 * A `SHA256SUMS` (or `.sha256`) beside a tarball is read whole, up to
 * 16 MiB, but the work done on what was read was not bounded with it:
 * 200,000 lines naming the tarball as `sub/../ds.tar.zst` asked for
 * 400,000 real paths at once, and 16 MiB of empty lines were split into
 * 16 million strings even with no malformed line to look at. Either ran a
 * `dataset verify` with 256 MB of heap out of memory. Each directory
 * spelling is now resolved once, one line at a time, and the text is
 * split only when a malformed line needs its name.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { MAX_WHOLE_FILE_BYTES } from '../../../src/verify/defaults.js';
import { cli } from '../cli/cli-harness.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('sha256sum');
const dir = tempDir('bk-big-sums-');

/** `first`, then `line` repeated, to just under the size a sums file may have. */
const filled = (line: string, first = ''): string =>
  first + line.repeat(Math.floor((MAX_WHOLE_FILE_BYTES - 1 - first.length) / line.length));

describe.skipIf(tools.missing)('dataset verify with a sums file of 16 MiB beside the tarball', () => {
  it.for([
    ['SHA256SUMS', 'every line naming the tarball as sub/../ds.tar.zst', (sha: string) => filled(`${sha}  sub/../ds.tar.zst\n`)],
    ['ds.tar.zst.sha256', 'its line, then only empty lines', (sha: string) => filled('\n', `${sha}  ds.tar.zst\n`)],
    ['SHA256SUMS', 'its line, then only empty lines', (sha: string) => filled('\n', `${sha}  ds.tar.zst\n`)],
  ] as const)(tools.title('%s, %s: checked within 256 MB of heap'), async ([file, label, text]) => {
    const d = join(dir, `${file}-${label.length}`);
    mkdirSync(join(d, 'sub'), { recursive: true });
    const path = join(d, 'ds.tar.zst');
    (await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] }, sha256File: false }))._unsafeUnwrap();
    const sha = execFileSync('sha256sum', [path], { encoding: 'utf8' }).slice(0, 64);
    writeFileSync(join(d, file), text(sha));
    const run = await cli(['dataset', 'verify', path, '--json'], { nodeOptions: ['--max-old-space-size=256'] });
    expect(run.stderr).not.toContain('heap out of memory');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).report.archive).toMatchObject({
      verdict: 'ok',
      expectedFrom: file === 'SHA256SUMS' ? 'SHA256SUMS' : 'sha256-file',
    });
  });
});
