/**
 * An Ed25519 key A plus a point T of small order is another 32-byte key,
 * A + T, yet the holder of A's private key can sign for it too: a signature
 * (R, S) with S = r + k·a verifies under A + T whenever k = H(R‖A+T‖M) is a
 * multiple of T's order, which a few fresh nonces find. Trusted beside A, it
 * would let one signer meet 2-of-n alone, so such keys are KEY_INVALID.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preAuthEncoding, signDsse, verifyDsse } from '../../../src/verify/index.js';
import {
  addAffine,
  decodeAffine,
  encodeAffine,
  fromLe,
  L,
  le32,
  modP,
  P,
  smallOrderEncodings,
  sqrt,
} from '../../support/ed25519-affine.js';
import { ed25519Key, envelopeOf, opensslVerifiesEd25519, secretOf, sha512 } from '../../support/ed25519-keys.js';
import { needTools } from '../../support/tmp.js';

const opensslTool = needTools('openssl');
const TYPE = 'application/vnd.in-toto+json';
const PAYLOAD = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[]}');
const PAE = preAuthEncoding(TYPE, PAYLOAD);

/** The points of order 2 (0, -1), 4 (√-1, 0) and 8 (x of y8), as data derived apart from the code under test. */
const ORDER_2 = { x: 0n, y: P - 1n };
const ORDER_4 = { x: sqrt(P - 1n) as bigint, y: 0n };
const ORDER_8 = decodeAffine(smallOrderEncodings()[5] as Buffer);

/**
 * Signs `message` under the public key `claimed` with A's private key: R is
 * taken from Node's signature of a fresh random message (whose nonce r the
 * seed gives), S = r + H(R‖claimed‖message)·a, tried until Node verifies it.
 */
function signAs(privateKey: KeyObject, claimed: Buffer, message: Buffer): Buffer {
  const { a, prefix } = secretOf(privateKey);
  const key = ed25519Key(claimed);
  for (let attempt = 0; attempt < 200; attempt++) {
    const nonceMessage = randomBytes(16);
    const R = sign(null, nonceMessage, privateKey).subarray(0, 32);
    const r = fromLe(sha512(prefix, nonceMessage)) % L;
    const k = fromLe(sha512(R, claimed, message)) % L;
    const signature = Buffer.concat([R, le32((r + k * a) % L)]);
    if (verify(null, message, key, signature)) return signature;
  }
  throw new Error('no signature verified in 200 tries');
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-ed25519-mixed-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('Ed25519 keys outside the prime-order subgroup', () => {
  it('one private key signs under A and under A + T (Node and openssl agree); the kit refuses A + T instead of counting two signers', () => {
    const alice = generateKeyPairSync('ed25519');
    const rawA = Buffer.from(String(alice.publicKey.export({ format: 'jwk' }).x), 'base64url');
    const rawAT = encodeAffine(addAffine(decodeAffine(rawA), ORDER_8));
    expect(rawAT.equals(rawA)).toBe(false);

    const underA = sign(null, PAE, alice.privateKey);
    const underAT = signAs(alice.privateKey, rawAT, PAE);
    // The oracle: node:crypto verifies both, each under its own key.
    expect(verify(null, PAE, alice.publicKey, underA)).toBe(true);
    expect(verify(null, PAE, ed25519Key(rawAT), underAT)).toBe(true);
    if (!opensslTool.missing) expect(opensslVerifiesEd25519(dir, rawAT, PAE, underAT)).toBe(true);

    const envelope = envelopeOf(PAYLOAD, TYPE, [underA, underAT]);
    const result = verifyDsse(envelope, { keys: [alice.publicKey, ed25519Key(rawAT)], threshold: 2 });
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('KEY_INVALID');
    expect(error.message).toContain('keys[1]');
    expect(error.message).toContain(rawAT.toString('base64url'));
    expect(error.message).toMatch(/not in the prime-order subgroup/);
    // A alone still verifies what Alice signed.
    expect(verifyDsse(envelope, { keys: [alice.publicKey] })._unsafeUnwrap().validKeys).toBe(1);
  });

  it.for([
    ['A + T, T of order 2', ORDER_2, true],
    ['A + T, T of order 4', ORDER_4, true],
    ['A + T, T of order 8', ORDER_8, true],
    ['T of order 8 alone', ORDER_8, false],
  ] as const)('%s is KEY_INVALID as a trusted key', ([, t, withA]) => {
    const alice = generateKeyPairSync('ed25519');
    const rawA = Buffer.from(String(alice.publicKey.export({ format: 'jwk' }).x), 'base64url');
    const raw = encodeAffine(withA ? addAffine(decodeAffine(rawA), t) : t);
    const env = signDsse(PAYLOAD, TYPE, alice.privateKey)._unsafeUnwrap();
    const error = verifyDsse(env, { keys: [ed25519Key(raw)] })._unsafeUnwrapErr();
    expect(error.code).toBe('KEY_INVALID');
    expect(error.message).toMatch(withA ? /not in the prime-order subgroup/ : /point of small order/);
  });

  it('a non-canonical spelling of a key (y + p) and bytes that are no curve point are KEY_INVALID', () => {
    const onCurve = (y: bigint): boolean => {
      try {
        decodeAffine(le32(y));
        return true;
      } catch {
        return false;
      }
    };
    // Small y, so that the y + p spelling fits in 255 bits.
    const ys = [...Array(17).keys()].map((i) => BigInt(i + 2));
    const y = ys.find(onCurve);
    const noPoint = ys.find((v) => !onCurve(v));
    if (y === undefined || noPoint === undefined) throw new Error('expected small y both on and off the curve');
    const spelt = le32(y + P);
    expect(modP(fromLe(spelt))).toBe(y);
    const env = signDsse(PAYLOAD, TYPE, generateKeyPairSync('ed25519').privateKey)._unsafeUnwrap();
    const nonCanonical = verifyDsse(env, { keys: [ed25519Key(spelt)] })._unsafeUnwrapErr();
    expect(nonCanonical.code).toBe('KEY_INVALID');
    // No point with so small a y is of prime order: the spelling is refused with the point it spells.
    expect(nonCanonical.message).toMatch(/not in the prime-order subgroup/);
    expect(verifyDsse(env, { keys: [ed25519Key(le32(y))] })._unsafeUnwrapErr().message).toMatch(/not in the prime-order subgroup/);
    const notAPoint = verifyDsse(env, { keys: [ed25519Key(le32(noPoint))] })._unsafeUnwrapErr();
    expect(notAPoint.code).toBe('KEY_INVALID');
    expect(notAPoint.message).toMatch(/not a point of the curve/);
  });

  it('every ordinary key still works, and one key as PEM, DER and a KeyObject made from its JWK counts once', () => {
    for (let i = 0; i < 16; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const env = signDsse(PAYLOAD, TYPE, [privateKey, privateKey])._unsafeUnwrap();
      expect(verifyDsse(env, { keys: [publicKey] }).isOk()).toBe(true);
      const pem = publicKey.export({ format: 'pem', type: 'spki' });
      const der = publicKey.export({ format: 'der', type: 'spki' });
      const fromJwk = createPublicKey({ key: publicKey.export({ format: 'jwk' }), format: 'jwk' });
      for (const pair of [
        [pem, fromJwk],
        [der, fromJwk],
        [pem, der],
      ]) {
        expect(verifyDsse(env, { keys: pair, threshold: 2 })._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
      }
    }
  });
});
