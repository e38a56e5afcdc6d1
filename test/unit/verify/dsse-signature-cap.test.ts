/**
 * Every signature of a DSSE envelope is tried against every trusted key, so
 * an envelope of tens of thousands of short signatures (5 MiB of them) cost
 * seconds of CPU. At most MAX_DSSE_SIGNATURES are verified: more is
 * ENVELOPE_INVALID, naming the count and the cap, before any is tried; and
 * signDsse refuses to make such an envelope.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_DSSE_SIGNATURES, signDsse, verifyDsse, type DsseEnvelope } from '../../../src/verify/index.js';

const TYPE = 'application/vnd.example+json';
const pair = (): { privateKey: KeyObject; publicKey: KeyObject } => generateKeyPairSync('ed25519');
const signer = pair();
const others = [pair().publicKey, pair().publicKey];
const trusted = [signer.publicKey, ...others];

/** A signed envelope whose one valid signature comes last, after `decoys` signatures no trusted key made. */
function withDecoys(decoys: number): DsseEnvelope {
  const signed = signDsse('{"a":1}', TYPE, signer.privateKey)._unsafeUnwrap();
  const decoy = signDsse('{"a":2}', TYPE, pair().privateKey)._unsafeUnwrap().signatures[0]!;
  return { ...signed, signatures: [...Array.from({ length: decoys }, () => decoy), ...signed.signatures] };
}

describe('the number of DSSE signatures', () => {
  it('up to the cap, every signature is tried', () => {
    const env = withDecoys(MAX_DSSE_SIGNATURES - 1);
    const verified = verifyDsse(env, { keys: trusted })._unsafeUnwrap();
    expect(verified.signatures).toHaveLength(MAX_DSSE_SIGNATURES);
    expect(verified.signatures.at(-1)?.verdict).toBe('valid');
  });

  it('past the cap, the envelope is refused before any signature is tried, naming the count and the cap', () => {
    const refused = verifyDsse(withDecoys(MAX_DSSE_SIGNATURES), { keys: trusted })._unsafeUnwrapErr();
    expect(refused.code).toBe('ENVELOPE_INVALID');
    expect(refused.message).toContain(`has ${MAX_DSSE_SIGNATURES + 1} signatures, more than the ${MAX_DSSE_SIGNATURES} verified`);
    expect(refused.partial).toBeUndefined();
  });

  it('a 5 MiB envelope of short signatures is refused as such, as JSON text too', () => {
    const env = withDecoys(0);
    const sig = env.signatures[0]!;
    const count = Math.ceil((5 * 1024 ** 2) / JSON.stringify(sig).length);
    const text = JSON.stringify({ ...env, signatures: Array.from({ length: count }, () => sig) });
    expect(text.length).toBeGreaterThan(5 * 1024 ** 2);
    const refused = verifyDsse(text, { keys: trusted })._unsafeUnwrapErr();
    expect(refused.code).toBe('ENVELOPE_INVALID');
    expect(refused.message).toContain(`has ${count} signatures`);
  });

  it('signDsse makes no envelope verifyDsse would refuse', () => {
    const pairs = Array.from({ length: MAX_DSSE_SIGNATURES + 1 }, pair);
    const tooMany = signDsse(
      '{}',
      TYPE,
      pairs.map((p) => p.privateKey),
    )._unsafeUnwrapErr();
    expect(tooMany.code).toBe('INVALID_ARGUMENT');
    expect(tooMany.message).toContain(`${MAX_DSSE_SIGNATURES + 1} keys, more than the ${MAX_DSSE_SIGNATURES}`);
    const most = pairs.slice(0, MAX_DSSE_SIGNATURES);
    const signed = signDsse(
      '{}',
      TYPE,
      most.map((p) => p.privateKey),
    )._unsafeUnwrap();
    const verified = verifyDsse(signed, { keys: most.map((p) => p.publicKey), threshold: MAX_DSSE_SIGNATURES });
    expect(verified._unsafeUnwrap().validKeys).toBe(MAX_DSSE_SIGNATURES);
  });
});
