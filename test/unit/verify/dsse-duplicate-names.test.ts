import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signDsse, verifyDsse, verifyInTotoSubject } from '../../../src/verify/index.js';
import { duplicateName } from '../../../src/_internals/json-duplicates.js';
import { tempDir } from '../../support/tmp.js';

/**
 * JSON.parse keeps the last of two equal names, other readers the first: an
 * envelope or a signed statement that names something twice is read one
 * way here and another way by another verifier, so it is refused.
 */
const dir = tempDir('bk-dsse-dup-');
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('duplicate names in signed JSON', () => {
  it('finds a name given twice at any depth, compared decoded, and nothing in arrays or values', () => {
    expect(duplicateName('{"a":1,"b":{"c":[{"d":1},{"d":2}]},"e":"a"}')).toBeUndefined();
    expect(duplicateName('{"a":1,"a":2}')).toBe('a');
    expect(duplicateName('{"p\\u0061yload":"x","payload":"y"}')).toBe('payload');
    expect(duplicateName('{"s":[{"k":"\\"","k":1}]}')).toBe('k');
    expect(duplicateName('[{"a":{"b":1},"c":{"b":2}}]')).toBeUndefined();
  });

  it('verifyDsse refuses an envelope that names its payload twice (the signed one last)', () => {
    const env = signDsse('{"x":1}', 'application/json', key.privateKey)._unsafeUnwrap();
    const other = Buffer.from('{"x":2}').toString('base64');
    const text = `{"payload":"${other}","payloadType":"application/json","signatures":${JSON.stringify(env.signatures)},"payload":"${env.payload}"}`;
    const r = verifyDsse(text, { keys: [key.publicKey] });
    expect(r._unsafeUnwrapErr().code).toBe('ENVELOPE_INVALID');
    expect(r._unsafeUnwrapErr().message).toContain('"payload" twice');
    expect(verifyDsse(JSON.stringify(env), { keys: [key.publicKey] }).isOk()).toBe(true);
  });

  it('verifyInTotoSubject refuses a signed statement whose subject digest is given twice', async () => {
    const file = join(dir, 'ds.tar.zst');
    writeFileSync(file, 'dataset bytes');
    const real = createHash('sha256').update('dataset bytes').digest('hex');
    const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"ds.tar.zst","digest":{"sha256":"${'0'.repeat(64)}","sha256":"${real}"}}],"predicateType":"x","predicate":{}}`;
    const env = signDsse(statement, 'application/vnd.in-toto+json', key.privateKey)._unsafeUnwrap();
    const r = await verifyInTotoSubject(env, file, { keys: [key.publicKey] });
    expect(r._unsafeUnwrapErr().code).toBe('ENVELOPE_INVALID');
    expect(r._unsafeUnwrapErr().message).toContain('"sha256" twice');
  });
});
