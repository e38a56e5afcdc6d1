/**
 * A trusted RSA key with public exponent 1 can be signed for by anyone: the
 * "signature" is the padded digest itself. Such a key (and an even exponent,
 * which is no RSA key) is KEY_INVALID, so it cannot fill a slot of a t-of-n
 * threshold that nobody signed. openssl is the oracle that the forgery verifies.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preAuthEncoding, signDsse, verifyBlobSignature, verifyDsse } from '../../../src/verify/index.js';
import { needTools } from '../../support/tmp.js';

const opensslTool = needTools('openssl');
const TYPE = 'application/vnd.in-toto+json';
const PAYLOAD = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[]}');
let dir = '';

/** The same modulus as `key`, with another public exponent. */
function withExponent(key: KeyObject, e: string): KeyObject {
  return createPublicKey({ key: { ...key.export({ format: 'jwk' }), e }, format: 'jwk' });
}

/** An RSASSA-PKCS1-v1_5 SHA-256 "signature" under e = 1: the encoded message itself, made with no private key. */
function forgeForExponentOne(data: Buffer): Buffer {
  const digestInfo = Buffer.concat([
    Buffer.from('3031300d060960864801650304020105000420', 'hex'),
    createHash('sha256').update(data).digest(),
  ]);
  return Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(256 - 3 - digestInfo.length, 0xff), Buffer.from([0]), digestInfo]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-rsa-exponent-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('RSA public exponents', () => {
  it.skipIf(opensslTool.missing)(opensslTool.title('a key with e = 1 (which openssl verifies a forgery under) is KEY_INVALID'), () => {
    const alice = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const victim = withExponent(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, 'AQ');
    const pae = preAuthEncoding(TYPE, PAYLOAD);
    const forged = forgeForExponentOne(pae);
    writeFileSync(join(dir, 'e1.pub'), victim.export({ format: 'pem', type: 'spki' }));
    writeFileSync(join(dir, 'pae.bin'), pae);
    writeFileSync(join(dir, 'forged.sig'), forged);
    const oracle = spawnSync('openssl', ['dgst', '-sha256', '-verify', 'e1.pub', '-signature', 'forged.sig', 'pae.bin'], { cwd: dir });
    expect(oracle.stdout.toString()).toContain('Verified OK');

    // Alice alone signs; the second "signature" was made by nobody.
    const env = signDsse(PAYLOAD, TYPE, alice.privateKey)._unsafeUnwrap();
    const envelope = { ...env, signatures: [...env.signatures, { sig: forged.toString('base64') }] };
    const result = verifyDsse(envelope, { keys: [alice.publicKey, victim], threshold: 2 });
    expect(result._unsafeUnwrapErr().code).toBe('KEY_INVALID');
    expect(result._unsafeUnwrapErr().message).toContain('keys[1]');
    expect(verifyDsse(envelope, { keys: [readFileSync(join(dir, 'e1.pub'), 'utf8')] })._unsafeUnwrapErr().code).toBe('KEY_INVALID');
  });

  it('a detached signature under an e = 1 key is KEY_INVALID', async () => {
    const victim = withExponent(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, 'AQ');
    const blob = join(dir, 'blob');
    writeFileSync(blob, 'release');
    const forged = forgeForExponentOne(Buffer.from('release')).toString('base64');
    expect((await verifyBlobSignature(blob, forged, victim))._unsafeUnwrapErr().code).toBe('KEY_INVALID');
  });

  it('an even exponent is KEY_INVALID; 3 and 65537 are accepted', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const env = signDsse(PAYLOAD, TYPE, privateKey)._unsafeUnwrap();
    expect(verifyDsse(env, { keys: [withExponent(publicKey, 'Ag')] })._unsafeUnwrapErr().code).toBe('KEY_INVALID'); // e = 2
    expect(verifyDsse(env, { keys: [publicKey] }).isOk()).toBe(true);
    const three = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    expect(verifyDsse(signDsse(PAYLOAD, TYPE, three.privateKey)._unsafeUnwrap(), { keys: [three.publicKey] }).isOk()).toBe(true);
  });
});
