/**
 * A public key and its negation are two points, yet one private key signs
 * for both: -Q = (x, p - y) is the P-256 key of n - d, and -A (A with the
 * sign bit of x flipped) is the Ed25519 key of the scalar -a. Their
 * encodings differ in one bit (a compressed P-256 point's 02/03 prefix,
 * an Ed25519 key's top bit), and both are of prime order, so neither the
 * encoding check nor the subgroup check saw them: trusted side by side,
 * they let one signer meet a 2-of-n threshold alone.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { preAuthEncoding, signDsse, verifyDsse } from '../../../src/verify/index.js';
import { fromLe, L, le32 } from '../../support/ed25519-affine.js';
import { ed25519Key, envelopeOf, opensslVerifiesEd25519, secretOf, sha512 } from '../../support/ed25519-keys.js';
import { needTools, tempDir } from '../../support/tmp.js';

const openssl = needTools('openssl');
const dir = tempDir('bk-negated-key-');
const TYPE = 'application/vnd.in-toto+json';
const PAYLOAD = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[]}');
const PAE = preAuthEncoding(TYPE, PAYLOAD);

/** P-256's field prime and group order (SEC 2). */
const P256_P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const big = (b64url: string): bigint => BigInt(`0x${Buffer.from(b64url, 'base64url').toString('hex')}`);
const b64url = (value: bigint): string => Buffer.from(value.toString(16).padStart(64, '0'), 'hex').toString('base64url');

/** The P-256 private key n - d, whose public key is -Q. */
function negatedP256(privateKey: KeyObject): KeyObject {
  const jwk = privateKey.export({ format: 'jwk' });
  return createPrivateKey({
    key: { ...jwk, y: b64url(P256_P - big(String(jwk.y))), d: b64url(P256_N - big(String(jwk.d))) },
    format: 'jwk',
  });
}

/** Signs `message` under -A with A's private key: S = r + H(R‖-A‖M)·(L - a), R and r from one of Node's own signatures. */
function signAsNegated(privateKey: KeyObject, negated: Buffer, message: Buffer): Buffer {
  const { a, prefix } = secretOf(privateKey);
  const nonceMessage = randomBytes(16);
  const R = sign(null, nonceMessage, privateKey).subarray(0, 32);
  const r = fromLe(sha512(prefix, nonceMessage)) % L;
  const k = fromLe(sha512(R, negated, message)) % L;
  return Buffer.concat([R, le32((r + k * (L - (a % L))) % L)]);
}

describe('a trusted key beside its own negation counts as one signer', () => {
  it('P-256: Q and -Q (one private key, n - d) meet no 2-of-2; each alone still verifies', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const negated = negatedP256(privateKey);
    const negatedPublic = createPublicKey(negated);
    // The compressed points differ only in their first byte (02 and 03).
    const compressed = (key: KeyObject): Buffer =>
      Buffer.concat([
        Buffer.from([big(String(key.export({ format: 'jwk' }).y)) & 1n ? 3 : 2]),
        Buffer.from(String(key.export({ format: 'jwk' }).x), 'base64url'),
      ]);
    expect(compressed(publicKey).subarray(1).equals(compressed(negatedPublic).subarray(1))).toBe(true);
    const env = signDsse(PAYLOAD, TYPE, [privateKey, negated])._unsafeUnwrap();
    // The oracle: node:crypto verifies each signature under its own key.
    expect(verify('sha256', PAE, publicKey, Buffer.from(env.signatures[0]!.sig, 'base64'))).toBe(true);
    expect(verify('sha256', PAE, negatedPublic, Buffer.from(env.signatures[1]!.sig, 'base64'))).toBe(true);

    const error = verifyDsse(env, { keys: [publicKey, negatedPublic], threshold: 2 })._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/number of distinct keys \(1\)/);
    const once = verifyDsse(env, { keys: [publicKey, negatedPublic] })._unsafeUnwrap();
    expect(once.validKeys).toBe(1);
    expect(once.signatures.map((s) => s.verdict)).toEqual(['valid', 'duplicate']);
    expect(verifyDsse(env, { keys: [negatedPublic] })._unsafeUnwrap().validKeys).toBe(1);
  });

  it('Ed25519: A and -A (the sign bit flipped; one private key, scalar -a) meet no 2-of-2', (ctx) => {
    const alice = generateKeyPairSync('ed25519');
    const rawA = Buffer.from(String(alice.publicKey.export({ format: 'jwk' }).x), 'base64url');
    const rawNegA = Buffer.from(rawA);
    rawNegA[31] = (rawNegA[31] as number) ^ 0x80;
    const underA = sign(null, PAE, alice.privateKey);
    const underNegA = signAsNegated(alice.privateKey, rawNegA, PAE);
    // The oracles: node:crypto and openssl verify the signature under -A.
    expect(verify(null, PAE, ed25519Key(rawNegA), underNegA)).toBe(true);
    if (!openssl.missing) expect(opensslVerifiesEd25519(dir, rawNegA, PAE, underNegA)).toBe(true);
    const envelope = envelopeOf(PAYLOAD, TYPE, [underA, underNegA]);
    const keys = [alice.publicKey, ed25519Key(rawNegA)];
    expect(verifyDsse(envelope, { keys, threshold: 2 })._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    const once = verifyDsse(envelope, { keys })._unsafeUnwrap();
    expect(once.validKeys).toBe(1);
    expect(once.signatures.map((s) => s.verdict)).toEqual(['valid', 'duplicate']);
    if (openssl.missing) ctx.skip('skipped: openssl is not installed (node:crypto was the only oracle)');
  });

  it('two unrelated keys of each kind still meet 2-of-2', () => {
    for (const kind of ['ed25519', 'p256'] as const) {
      const make = (): { privateKey: KeyObject; publicKey: KeyObject } =>
        kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const [alice, bob] = [make(), make()];
      const env = signDsse(PAYLOAD, TYPE, [alice.privateKey, bob.privateKey])._unsafeUnwrap();
      expect(verifyDsse(env, { keys: [alice.publicKey, bob.publicKey], threshold: 2 })._unsafeUnwrap().validKeys).toBe(2);
    }
  });
});
