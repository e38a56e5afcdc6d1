/**
 * DSSE signs the UTF-8 bytes of `payloadType`. A JSON envelope can carry a
 * type with a lone surrogate (`"\ud800"`), which has no UTF-8 form: it was
 * encoded as U+FFFD, so a signature over the type "\ufffd…" verified an
 * envelope that claims another type, and `verifyDsse` handed back that
 * other, never-signed type. Such a type is refused, when signing too.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signDsse, verifyDsse } from '../../../src/verify/index.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const pem = (k: typeof publicKey): string => k.export({ type: k.type === 'public' ? 'spki' : 'pkcs8', format: 'pem' }) as string;

describe('verifyDsse and a payloadType that is not well-formed Unicode', () => {
  it('refuses an envelope whose payloadType has a lone surrogate, though its signature is over the replacement character', () => {
    const signed = signDsse('{"a":1}', 'application/x\ufffd', pem(privateKey))._unsafeUnwrap();
    expect(verifyDsse(signed, { keys: [pem(publicKey)] }).isOk()).toBe(true);
    const text = JSON.stringify(signed).replace('x\\ufffd', 'x\\ud800').replace('x\ufffd', 'x\\ud800');
    expect(text).toContain('x\\ud800');
    const forged = verifyDsse(text, { keys: [pem(publicKey)] });
    expect(forged.isErr() && forged.error.code).toBe('ENVELOPE_INVALID');
    expect(forged.isErr() && forged.error.message).toMatch(/payloadType .*not well-formed Unicode/);
  });

  it('signDsse refuses such a payloadType instead of signing another one', () => {
    const r = signDsse('{}', 'application/x\ud800', pem(privateKey));
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
  });
});
