/**
 * A manifest that spells a field in another case beside (or instead of)
 * its own (`"SHA256"` by `"sha256"`, `"Members"`, `"Records"`): Go's
 * encoding/json matches a field's name in any case and keeps the last
 * match, `JSON.parse` readers take the exact name only, so one manifest
 * meant two sets of counts and digests, and the check here passed an
 * archive a Go reader of the same manifest fails. Such a manifest is
 * MANIFEST_INVALID, as the DSSE envelope's case-variant fields are.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/dataset/manifest.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, tempDir } from '../../support/tmp.js';

const body = '{"_id":"1"}\n';
const sha = createHash('sha256').update(body).digest('hex');
const wrong = 'f'.repeat(64);

const manifests: [string, string, string][] = [
  [
    'SHA256 after sha256',
    'members[0]',
    `{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"sha256":"${sha}","SHA256":"${wrong}"}]}`,
  ],
  ['Sha256 alone', 'members[0]', `{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"Sha256":"${wrong}"}]}`],
  ['Records beside records', 'members[0]', '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"Records":7}]}'],
  ['BYTES alone', 'members[0]', '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"BYTES":99}]}'],
  ['NAME beside name', 'members[0]', '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"NAME":"b.ndjson"}]}'],
  [
    'Members after members',
    'the manifest',
    '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1}],"Members":[{"name":"a.ndjson","records":5}]}',
  ],
  ['SchemaVersion beside schemaVersion', 'the manifest', '{"schemaVersion":1,"SchemaVersion":2,"members":[]}'],
  // Go folds the long s (U+017F) to s.
  ['\u017fha256 (long s)', 'members[0]', `{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"\u017fha256":"${wrong}"}]}`],
];

describe('a manifest that spells a field in another case', () => {
  it.each(manifests)('%s is MANIFEST_INVALID', (_label, where, text) => {
    const error = parseManifest(text)._unsafeUnwrapErr();
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toContain(`manifest.json: ${where} names`);
    expect(error.message).toContain("Go's JSON reader");
  });

  it('other unknown keys are still kept', () => {
    const parsed = parseManifest('{"schemaVersion":1,"producer":"x","members":[{"name":"a.ndjson","records":1,"table":"t"}]}');
    expect(parsed._unsafeUnwrap().members[0]).toMatchObject({ table: 't' });
  });
});

const tools = needTools('tar');
const dir = tempDir('bk-manifest-case-');

describe.skipIf(tools.missing)('verifyDataset of a tar whose manifest spells sha256 twice, in two cases', () => {
  it(tools.title('fails with MANIFEST_INVALID instead of passing on the lower-case digest'), async () => {
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'manifest.json'), manifests[0]![2]);
    writeFileSync(join(src, 'a.ndjson'), body);
    const path = join(dir, 'ds.tar');
    execFileSync('tar', ['--format=ustar', '-cf', path, '-C', src, 'manifest.json', 'a.ndjson']);
    const report = (await verifyDataset(path))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toEqual(['MANIFEST_INVALID']);
    expect(report.problems[0]!.message).toContain('"SHA256"');
  });
});
