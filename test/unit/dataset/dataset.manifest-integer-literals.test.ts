/**
 * A manifest's counts (`records`, `bytes`) and `schemaVersion` are integers,
 * but they were checked after `JSON.parse`, which rounds: `1e0`, `1.0` and
 * `0.99999999999999999999` all came out as 1, so a manifest claiming
 * 0.99999999999999999999 records verified a member of one record. Python's
 * json reads such a number as a non-integer (a float, or a Decimal with
 * `parse_float`), and Go's encoding/json refuses it for an integer field.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/dataset/manifest.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('tar', 'python3');
const dir = tempDir('bk-manifest-integers-');
const body = '{"_id":"1"}\n';
const sha = createHash('sha256').update(body).digest('hex');

/** The manifest for one member of one record, with `records`, `bytes` and `schemaVersion` written as given. */
const manifest = (records: string, bytes = '12', schemaVersion = '1'): string =>
  `{"schemaVersion":${schemaVersion},"members":[{"name":"a.ndjson","records":${records},"bytes":${bytes},"sha256":"${sha}"}]}`;

/** Which of the three numbers Python's json reads as an int (the rest as Decimal, never rounded). */
function pythonIntegers(text: string): boolean[] {
  const script = [
    'import json, sys',
    'from decimal import Decimal',
    'm = json.loads(sys.argv[1], parse_float=Decimal)',
    'e = m["members"][0]',
    'print(json.dumps([type(v) is int for v in (e["records"], e["bytes"], m["schemaVersion"])]))',
  ].join('\n');
  return JSON.parse(run('python3', ['-c', script, text])) as boolean[];
}

async function verified(label: string, text: string): Promise<string[]> {
  const src = join(dir, label.replace(/\W/g, '_'));
  mkdirSync(src);
  writeFileSync(join(src, 'manifest.json'), text);
  writeFileSync(join(src, 'a.ndjson'), body);
  const path = `${src}.tar`;
  execFileSync('tar', ['--format=ustar', '-cf', path, '-C', src, 'manifest.json', 'a.ndjson']);
  const report = (await verifyDataset(path))._unsafeUnwrap();
  return report.problems.map((p) => p.code);
}

const refused: [string, string, string][] = [
  ['records 0.99999999999999999999', manifest('0.99999999999999999999'), 'members[0] (a.ndjson): records'],
  ['records 1.00000000000000000001', manifest('1.00000000000000000001'), 'members[0] (a.ndjson): records'],
  ['records 1e0', manifest('1e0'), 'members[0] (a.ndjson): records'],
  ['records 1.0', manifest('1.0'), 'members[0] (a.ndjson): records'],
  ['records 10E-1', manifest('10E-1'), 'members[0] (a.ndjson): records'],
  ['bytes 12.0', manifest('1', '12.0'), 'members[0] (a.ndjson): bytes'],
  ['bytes 1.2e1', manifest('1', '1.2e1'), 'members[0] (a.ndjson): bytes'],
  ['schemaVersion 1.0', manifest('1', '12', '1.0'), 'schemaVersion'],
  ['schemaVersion 0.99999999999999999999', manifest('1', '12', '0.99999999999999999999'), 'schemaVersion'],
];

describe.skipIf(tools.missing)('a manifest number that is not written as an integer', () => {
  it.each(refused)(tools.title('%s is MANIFEST_INVALID, as Python reads no integer there'), async (label, text, where) => {
    expect(pythonIntegers(text)).toContain(false);
    const error = parseManifest(text)._unsafeUnwrapErr();
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toContain(`manifest.json: ${where}`);
    expect(await verified(label, text)).toEqual(['MANIFEST_INVALID']);
  });

  it(tools.title('integers as Python reads them still verify: 1, and -0 for a count of 0'), async () => {
    expect(pythonIntegers(manifest('1'))).toEqual([true, true, true]);
    expect(await verified('plain', manifest('1'))).toEqual([]);
    const empty = '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":-0}]}';
    expect(parseManifest(empty)._unsafeUnwrap().members[0]!.records).toBe(0);
  });
});
