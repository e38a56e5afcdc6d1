import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signDsse, verifyDsse, verifyInTotoSubject } from '../../../src/verify/index.js';
import { caseVariantName } from '../../../src/_internals/json-duplicates.js';
import { tempDir } from '../../support/tmp.js';

/**
 * Go's encoding/json, which cosign, in-toto-golang and sigstore-go read
 * envelopes and statements with, matches a struct field's name in any case
 * and keeps the last match (documented on json.Unmarshal; golang/go#14750,
 * #43664): `{"payload":A,"PAYLOAD":B}` is B to them and A to JSON.parse.
 * Names given twice were refused for that reason; names given twice in two
 * cases were not, so a Go verifier and this one read different payloads or
 * subjects from one signed document.
 */
const dir = tempDir('bk-dsse-go-case-');
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const TYPE = 'application/vnd.in-toto+json';

function statement(subjects: string): string {
  return `{"_type":"https://in-toto.io/Statement/v1",${subjects},"predicateType":"https://example.com/p","predicate":{"Name":1,"name":2}}`;
}

describe('names Go reads as an envelope or statement field, spelled in another case', () => {
  it('finds keys that fold to a field (ASCII case, ſ for s, the Kelvin sign for k), and not the fields themselves', () => {
    const fields = ['payload', 'signatures', 'keyid'];
    expect(caseVariantName({ payload: 1, signatures: [] }, fields)).toBeUndefined();
    expect(caseVariantName({ payload: 1, PAYLOAD: 2 }, fields)).toEqual({ key: 'PAYLOAD', field: 'payload' });
    expect(caseVariantName({ ſignatures: [] }, fields)).toEqual({ key: 'ſignatures', field: 'signatures' });
    expect(caseVariantName({ '\u212Aeyid': 'x' }, fields)).toEqual({ key: '\u212Aeyid', field: 'keyid' });
    expect(caseVariantName({ payloads: 1, other: 2 }, fields)).toBeUndefined();
  });

  it.for([
    ['PAYLOAD beside payload', (env: Record<string, unknown>, other: string) => ({ ...env, PAYLOAD: other })],
    ['Payload alone after payload', (env: Record<string, unknown>, other: string) => ({ ...env, Payload: other })],
    ['ſignatures beside signatures', (env: Record<string, unknown>) => ({ ...env, ſignatures: [] })],
    ['PayloadType beside payloadType', (env: Record<string, unknown>) => ({ ...env, PayloadType: 'text/plain' })],
    [
      'Sig beside sig in a signature',
      (env: Record<string, unknown>) => ({
        ...env,
        signatures: (env.signatures as object[]).map((s) => ({ ...s, Sig: 'AAAA' })),
      }),
    ],
  ] as const)('verifyDsse refuses an envelope with %s (as JSON text and as an object)', ([, change]) => {
    const env = signDsse('{"x":1}', TYPE, key.privateKey)._unsafeUnwrap();
    const changed = change(env as unknown as Record<string, unknown>, Buffer.from('{"x":2}').toString('base64'));
    for (const input of [JSON.stringify(changed), changed]) {
      const error = verifyDsse(input as never, { keys: [key.publicKey] })._unsafeUnwrapErr();
      expect(error.code).toBe('ENVELOPE_INVALID');
      expect(error.message).toMatch(/which Go's JSON reader .* takes for "(payload|payloadType|signatures|sig)"/);
    }
    expect(verifyDsse(JSON.stringify(env), { keys: [key.publicKey] }).isOk()).toBe(true);
  });

  it('verifyInTotoSubject refuses a signed statement whose subjects Go reads from another key', async () => {
    const file = join(dir, 'ds.tar.zst');
    writeFileSync(file, 'dataset bytes');
    const real = createHash('sha256').update('dataset bytes').digest('hex');
    const subject = (sha256: string): string => `[{"name":"ds.tar.zst","digest":{"sha256":"${sha256}"}}]`;
    // JSON.parse reads `subject` (this file); Go reads `Subject`, the later match (another file).
    const signed = statement(`"subject":${subject(real)},"Subject":${subject('0'.repeat(64))}`);
    const env = signDsse(signed, TYPE, key.privateKey)._unsafeUnwrap();
    const r = await verifyInTotoSubject(env, file, { keys: [key.publicKey] });
    expect(r._unsafeUnwrapErr().code).toBe('ENVELOPE_INVALID');
    expect(r._unsafeUnwrapErr().message).toMatch(/names "Subject", which Go's JSON reader .* takes for "subject"/);

    const inSubject = statement(`"subject":[{"name":"ds.tar.zst","NAME":"other","digest":{"sha256":"${real}"}}]`);
    const second = await verifyInTotoSubject(signDsse(inSubject, TYPE, key.privateKey)._unsafeUnwrap(), file, { keys: [key.publicKey] });
    expect(second._unsafeUnwrapErr().message).toMatch(/subject\[0\] names "NAME"/);

    // Keys in other cases inside the predicate, or digest algorithms (a map to Go), are data, not fields: still accepted.
    const plain = statement(`"subject":[{"name":"ds.tar.zst","digest":{"sha256":"${real}","SHA256":"${real}"}}]`);
    const ok = await verifyInTotoSubject(signDsse(plain, TYPE, key.privateKey)._unsafeUnwrap(), file, { keys: [key.publicKey] });
    expect(ok._unsafeUnwrap().sha256).toBe(real);
  });
});
