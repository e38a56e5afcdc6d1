/**
 * Only an absent `threshold` means the default of 1. A `null` (what a JSON
 * config file writes for "not set here") was read as 1, so a 2-of-n policy
 * loaded that way passed with one signer; it is INVALID_ARGUMENT now, as is
 * any threshold that is not a whole number of keys.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signDsse, verifyDsse, verifyInTotoSubject, type VerifyDsseOptions } from '../../../src/verify/index.js';

const alice = generateKeyPairSync('ed25519');
const bob = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const TYPE = 'application/vnd.in-toto+json';
const statement = JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256: '00' } }] });
const signedByAlice = signDsse(statement, TYPE, alice.privateKey)._unsafeUnwrap();
const keys = [alice.publicKey, bob.publicKey];

/** Options as a JavaScript caller or a parsed config file may pass them. */
const loose = (threshold: unknown): VerifyDsseOptions => ({ keys, threshold }) as unknown as VerifyDsseOptions;

describe('verifyDsse threshold option', () => {
  it('a null threshold is INVALID_ARGUMENT, not the default of 1', () => {
    const r = verifyDsse(signedByAlice, loose(null));
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain('got null');
  });

  it('verifyInTotoSubject passes a null threshold on and refuses it too', async () => {
    const r = await verifyInTotoSubject(signedByAlice, import.meta.filename, { keys, threshold: null as unknown as number });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
  });

  it('a string threshold is named as a string', () => {
    const r = verifyDsse(signedByAlice, loose('2'));
    expect(r.isErr() && r.error.message).toContain('got "2"');
  });

  it('an absent threshold is 1: one of the two keys suffices', () => {
    expect(verifyDsse(signedByAlice, { keys })._unsafeUnwrap().validKeys).toBe(1);
    expect(verifyDsse(signedByAlice, { keys, threshold: 2 })._unsafeUnwrapErr().code).toBe('SIGNATURE_INVALID');
  });
});

describe('verifyDsse keys option', () => {
  it('a missing, empty or non-array `keys` is INVALID_ARGUMENT, never a throw', () => {
    for (const options of [undefined, {}, { keys: [] }, { keys: null }, { keys: alice.publicKey }, { keys: 'not a list' }]) {
      const r = verifyDsse(signedByAlice, options as unknown as VerifyDsseOptions);
      expect(r.isErr() && r.error.code, JSON.stringify(options)).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toContain('`keys` must be a non-empty array');
    }
  });
});
