/**
 * A cron job or a container entrypoint may run the CLI under `umask 000`.
 * Everything it then created was writable by every user: a dataset and its
 * `.sha256` (0666), the directories `dataset build` and `dataset export`
 * make for their output (0777, so anyone could swap the dataset for
 * another between its build and its import), `SHA256SUMS`, a reject file
 * of rejected lines, the index and its lock file. They are now created
 * without the others' write bit, whatever the umask: files 0664 and
 * directories 0775 at most.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { cli, type CliRun } from './cli-harness.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** Runs the CLI as a process started under `umask 000` (the child takes the umask it is spawned with). */
function underUmask000(args: readonly string[], options: Parameters<typeof cli>[1]): Promise<CliRun> {
  const before = process.umask(0);
  try {
    return cli(args, options);
  } finally {
    process.umask(before);
  }
}

/** Every file and directory under `dir` (itself excluded) with its permission bits, as `path mode`. */
function modes(dir: string, under = ''): string[] {
  return readdirSync(join(dir, under), { withFileTypes: true }).flatMap((e) => {
    const path = join(under, e.name);
    const line = `${path} ${(statSync(join(dir, path)).mode & 0o777).toString(8)}`;
    return e.isDirectory() ? [line, ...modes(dir, path)] : [line];
  });
}

describe('backfill-kit under umask 000', () => {
  it('creates no file or directory every user may write', { timeout: 300_000 }, async () => {
    const dir = tempDir('bk-cli-umask-');
    const env = { PGURI: db.url, PGSCHEMA: 'umask_stage' };
    const run = async (args: readonly string[], code: number): Promise<void> => {
      const r = await underUmask000(args, { cwd: dir, env });
      expect(r.code, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(code);
    };
    await run(['dataset', 'build', 'out/a/b/ds.tar.zst', '--quiet'], 0);
    await run(['checksums', 'write', 'SUMS', 'out/a/b/ds.tar.zst', '--quiet'], 0);
    await run(['dataset', 'import', 'out/a/b/ds.tar.zst', '--quiet'], 0);
    await run(['dataset', 'export', 'exported/e.tar.zst', '--quiet'], 0);
    (
      await buildEpisodeTarball({ meta: { code_version: { commit: 'ab'.repeat(20) } }, path: join(dir, 'eps', 'h1', 'e1.tar.zst') })
    )._unsafeUnwrap();
    await run(['index', 'backfill', '--episodes-root', 'eps', '--index', 'index.jsonl', '--lock-path', 'index.lock', '--quiet'], 0);
    // A line the import rejects goes to the reject file (exit 4).
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'linksets.ndjson'), '{"_id":"a"}\nnot json\n');
    await run(['dataset', 'build', 'bad.tar.zst', '--from', 'bad', '--quiet'], 0);
    await run(['dataset', 'import', 'bad.tar.zst', '--on-invalid', 'reject', '--table', 'linksets.ndjson=umask_rejects', '--quiet'], 4);

    const all = modes(dir);
    for (const made of [
      'out',
      'out/a',
      'out/a/b',
      'out/a/b/ds.tar.zst',
      'out/a/b/ds.tar.zst.sha256',
      'SUMS',
      'exported',
      'exported/e.tar.zst',
      'exported/e.tar.zst.sha256',
      'index.jsonl',
      'bad.tar.zst.rejects.ndjson',
    ])
      expect(all.map((l) => l.split(' ')[0])).toContain(made);
    const worldWritable = all.filter((l) => (Number.parseInt(l.split(' ').at(-1)!, 8) & 0o002) !== 0);
    expect(worldWritable).toEqual([]);
    // Still readable by others, as the umask lets them be.
    expect(all).toContain('out/a/b/ds.tar.zst 664');
    expect(all).toContain('out/a/b 775');
  });
});
