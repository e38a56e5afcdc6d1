import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/dataset/manifest.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

/**
 * A manifest names its members as `tar -tf` shows them (`./a.ndjson`) while
 * the reader names the member `tar -x` makes (`a.ndjson`): verification
 * reported the member missing from the archive and missing from the manifest.
 * Manifest names are normalised as member names are, and a manifest entry
 * must still match only the file GNU tar extracts for it.
 */
const dir = tempDir('bk-manifest-names-');
const tools = needTools('tar');
const BODY = '{"id":1}\n{"id":2}\n';
const SHA = createHash('sha256').update(BODY).digest('hex');

/** A plain tarball made by GNU tar from `files` (path → body), added as `tar -C src -cf x.tar <members...>`. */
function gnuTar(name: string, files: Record<string, string>, members: readonly string[], manifestNames: readonly string[]): string {
  const src = join(dir, name);
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(src, path, '..'), { recursive: true });
    writeFileSync(join(src, path), body);
  }
  const manifest = { schemaVersion: 1, members: manifestNames.map((n) => ({ name: n, records: 2, bytes: BODY.length, sha256: SHA })) };
  writeFileSync(join(src, 'manifest.json'), JSON.stringify(manifest));
  const tarball = join(dir, `${name}.tar`);
  run('tar', ['-C', src, '-cf', tarball, ...members]);
  return tarball;
}

describe('manifest member names written as tar -tf shows them', () => {
  it.skipIf(tools.missing).for([
    { manifest: './a.ndjson', files: { 'a.ndjson': BODY }, members: ['./manifest.json', './a.ndjson'] },
    { manifest: 'a.ndjson', files: { 'a.ndjson': BODY }, members: ['./manifest.json', './a.ndjson'] },
    { manifest: './a.ndjson', files: { 'a.ndjson': BODY }, members: ['manifest.json', 'a.ndjson'] },
    { manifest: './sub//./b.ndjson', files: { 'sub/b.ndjson': BODY }, members: ['./manifest.json', './sub/b.ndjson'] },
  ])(
    tools.title('manifest $manifest, archive $members: verified, and tar -x extracts that file'),
    async ({ manifest, files, members }, ctx) => {
      const tarball = gnuTar(`ok-${ctx.task.id}`, files, members, [manifest]);
      const report = (await verifyDataset(tarball))._unsafeUnwrap();
      expect(report.problems.map((p) => p.message)).toEqual([]);
      expect(report.ok).toBe(true);
      // The oracle: the entry names the file tar -x makes, with the bytes the manifest records.
      const out = join(dir, `out-${ctx.task.id}`);
      mkdirSync(out);
      run('tar', ['-C', out, '-xf', tarball]);
      expect(
        createHash('sha256')
          .update(readFileSync(join(out, manifest)))
          .digest('hex'),
      ).toBe(SHA);
      expect(report.members.map((m) => [m.name, m.verdict])).toEqual([[manifest.replace(/^\.\//, '').replace('//./', '/'), 'ok']]);
    },
  );

  it.skipIf(tools.missing)(
    tools.title('a manifest name tar would extract elsewhere still does not match (case, trailing space)'),
    async () => {
      for (const name of ['./A.ndjson', 'a.ndjson ', './a.ndjson/x']) {
        const tarball = gnuTar(
          `other-${Buffer.from(name).toString('hex')}`,
          { 'a.ndjson': BODY },
          ['./manifest.json', './a.ndjson'],
          [name],
        );
        const report = (await verifyDataset(tarball))._unsafeUnwrap();
        expect(report.ok, name).toBe(false);
        expect(report.members.find((m) => m.name === 'a.ndjson')?.verdict, name).toBe('missing-from-manifest');
      }
    },
  );

  it.skipIf(tools.missing)(tools.title('two manifest names of one member: MANIFEST_INVALID, nothing matched'), async () => {
    const tarball = gnuTar('twice', { 'a.ndjson': BODY }, ['./manifest.json', './a.ndjson'], ['a.ndjson', './a.ndjson']);
    const report = (await verifyDataset(tarball))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.manifest).toBeNull();
    expect(report.problems.map((p) => p.code)).toContain('MANIFEST_INVALID');
  });
});

describe('parseManifest member names', () => {
  const manifest = (...names: string[]): string =>
    JSON.stringify({ schemaVersion: 1, members: names.map((name) => ({ name, records: 1, note: 'kept' })) });

  it.for([
    { names: ['a.ndjson', './a.ndjson'], says: '"a.ndjson" and "./a.ndjson" are the same member (a.ndjson)' },
    { names: ['x//a.ndjson', 'x/./a.ndjson'], says: 'are the same member (x/a.ndjson)' },
    { names: ['x', 'x/a.ndjson'], says: 'needs a directory x, where the file "x" is' },
    { names: ['../a.ndjson'], says: 'absolute or escaping path' },
    { names: ['/etc/a.ndjson'], says: 'absolute or escaping path' },
    { names: ['x\\a.ndjson'], says: 'absolute or escaping path' },
    { names: ['a.ndjson/'], says: 'ends in "/"' },
    { names: ['./'], says: 'names the directory it is extracted into' },
    { names: ['.'], says: 'names the directory it is extracted into' },
    { names: ['\ud800.ndjson'], says: 'lone UTF-16 surrogate' },
  ])('$names is MANIFEST_INVALID: $says', ({ names, says }) => {
    const error = parseManifest(manifest(...names))._unsafeUnwrapErr();
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toContain(says);
  });

  it('keeps the normalised name and every other key', () => {
    const parsed = parseManifest(manifest('./x//a.ndjson', 'b.ndjson'))._unsafeUnwrap();
    expect(parsed.members).toEqual([
      { name: 'x/a.ndjson', records: 1, note: 'kept' },
      { name: 'b.ndjson', records: 1, note: 'kept' },
    ]);
  });
});
