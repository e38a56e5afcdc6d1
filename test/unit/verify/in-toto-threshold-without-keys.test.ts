/**
 * A `threshold` asks for signatures: given without `keys` (a config whose
 * key list is missing or misnamed), verifyInTotoSubject checked only the
 * subject and returned Ok, so a 2-of-n policy passed an envelope nobody
 * signed (`verification: null`, which a caller checking `isOk()` never
 * reads). It is INVALID_ARGUMENT now, before the file is read.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { signDsse, verifyInTotoSubject, type VerifyInTotoSubjectOptions } from '../../../src/verify/index.js';

const TYPE = 'application/vnd.in-toto+json';
const file = import.meta.filename;
const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
const statement = JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256 } }] });
const stranger = generateKeyPairSync('ed25519');
const signedByStranger = signDsse(statement, TYPE, stranger.privateKey)._unsafeUnwrap();
const unsigned = { payload: Buffer.from(statement).toString('base64'), payloadType: TYPE, signatures: [] };

describe('verifyInTotoSubject threshold without keys', () => {
  for (const [name, envelope] of [
    ['signed by nobody trusted', signedByStranger],
    ['with no signature at all', unsigned],
  ] as const) {
    it(`refuses an envelope ${name} when a threshold is given but no keys`, async () => {
      const r = await verifyInTotoSubject(envelope, file, { threshold: 2 });
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toContain('keys');
    });
  }

  it('refuses a threshold of null without keys too (present, so not the default)', async () => {
    const options = { threshold: null } as unknown as VerifyInTotoSubjectOptions;
    const r = await verifyInTotoSubject(signedByStranger, file, options);
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
  });

  it('still checks the subject alone when neither keys nor threshold is given', async () => {
    const r = await verifyInTotoSubject(unsigned, file);
    expect(r.isOk() && r.value.verification).toBeNull();
    expect(r.isOk() && r.value.sha256).toBe(sha256);
  });

  it('verifies with keys and a threshold as before', async () => {
    const r = await verifyInTotoSubject(signedByStranger, file, { keys: [stranger.publicKey], threshold: 1 });
    expect(r.isOk() && r.value.verification?.validKeys).toBe(1);
  });
});
