/**
 * A cosign bundle (`cosign sign-blob --bundle`, or a sigstore bundle)
 * passed where the bare base64 signature belongs was refused as "not valid
 * base64 (unexpected characters)", which did not say what to pass instead.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyBlobSignature } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-bundle-');

describe('a cosign bundle given where the bare signature belongs', () => {
  it.for([
    ['cosign --bundle', { base64Signature: 'MEUCIQ==', cert: '', rekorBundle: { SignedEntryTimestamp: 'x', Payload: {} } }],
    [
      'sigstore bundle v0.3',
      { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', messageSignature: { signature: 'MEUCIQ==' }, verificationMaterial: {} },
    ],
  ] as const)('(%s) is BASE64_INVALID saying what to pass instead', async ([, bundle]) => {
    const blob = join(dir, 'bundle-blob');
    writeFileSync(blob, 'x');
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const r = await verifyBlobSignature(blob, `${JSON.stringify(bundle, null, 2)}\n`, publicKey.export({ format: 'pem', type: 'spki' }));
    expect(r._unsafeUnwrapErr().code).toBe('BASE64_INVALID');
    expect(r._unsafeUnwrapErr().message).toMatch(/bundle.*--output-signature/);
  });
});
