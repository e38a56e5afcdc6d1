import { generateKeyPairSync } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { runExample, showRun as show } from './run-example.js';

const dir = tempDir('bk-release-key-');
const p384 = join(dir, 'p384.key');
writeFileSync(p384, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
const garbage = join(dir, 'garbage.key');
writeFileSync(garbage, 'not a key\n');

describe('release-bundle.ts with a SIGNING_KEY that cannot sign stops with exit 2 before writing anything', () => {
  // It died with a stack trace (exit 1), a P-384 key only after the kit was written.
  it.for([
    ['a missing file', join(dir, 'missing.key'), /cannot sign: ENOENT/],
    ['a file that is no key', garbage, /cannot sign: /],
    ['a P-384 key', p384, /cannot sign: ECDSA curve secp384r1 is not supported/],
  ] as const)('%s', { timeout: 120_000 }, async ([name, key, why]) => {
    const out = join(dir, `kit-${name.replaceAll(' ', '-')}`);
    const r = await runExample('release-bundle.ts', [out], { SIGNING_KEY: key });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr, show(r)).toMatch(why);
    expect(r.stderr, show(r)).toMatch(/or unset it to sign with a throwaway key; nothing was written\.\n$/);
    expect(existsSync(out)).toBe(false);
  });
});
