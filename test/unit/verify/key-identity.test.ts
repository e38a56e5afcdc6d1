/**
 * One signer, one identity: a DSSE threshold counts keys by what they are,
 * so no re-encoding or second public exponent makes one key count twice.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyIdentity } from '../../../src/verify/keys.js';

describe('keyIdentity', () => {
  it('gives an RSA modulus one identity whatever the public exponent (one who can factor it could make another)', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    const otherExponent = createPublicKey({ key: { ...jwk, e: 'Aw' }, format: 'jwk' }); // e = 3
    expect(otherExponent.export({ format: 'jwk' }).e).not.toBe(jwk.e);
    expect(keyIdentity(otherExponent)).toBe(keyIdentity(publicKey));
  });

  it('tells different keys apart', () => {
    const a = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const b = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const c = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const d = generateKeyPairSync('ed25519').publicKey;
    expect(new Set([a, b, c, d].map(keyIdentity)).size).toBe(4);
  });
});
