/**
 * An Ed25519 "public key" that is a point of small order is held by nobody,
 * yet OpenSSL 3.0 (the openssl tool here, and the OpenSSL in some supported
 * Node versions) verifies a signature with S = 0 under it for any message.
 * Trusted, it would fill a slot of a t-of-n threshold that nobody signed, so
 * all eight such points, in every encoding, are KEY_INVALID.
 */
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preAuthEncoding, signDsse, verifyDsse } from '../../../src/verify/index.js';
import { smallOrderEncodings } from '../../support/ed25519-affine.js';
import { needTools } from '../../support/tmp.js';

const opensslTool = needTools('openssl');
const TYPE = 'application/vnd.in-toto+json';
const PAYLOAD = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[]}');
const IDENTITY = Buffer.from(`01${'00'.repeat(31)}`, 'hex');
let dir = '';

function ed25519Key(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-ed25519-small-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('Ed25519 keys of small order', () => {
  it.skipIf(opensslTool.missing)(
    opensslTool.title('the identity point, under which openssl verifies a signature nobody made, is KEY_INVALID'),
    () => {
      const nobody = ed25519Key(IDENTITY);
      const pae = preAuthEncoding(TYPE, PAYLOAD);
      const forged = Buffer.concat([IDENTITY, Buffer.alloc(32)]); // R = identity, S = 0
      writeFileSync(join(dir, 'nobody.pub'), nobody.export({ format: 'pem', type: 'spki' }));
      writeFileSync(join(dir, 'pae.bin'), pae);
      writeFileSync(join(dir, 'forged.sig'), forged);
      const args = ['pkeyutl', '-verify', '-pubin', '-inkey', 'nobody.pub', '-rawin', '-in', 'pae.bin', '-sigfile', 'forged.sig'];
      const oracle = spawnSync('openssl', args, { cwd: dir });
      // OpenSSL 3.0 accepts the forgery (later versions refuse it); either way the key must not be trusted.
      const version = spawnSync('openssl', ['version']).stdout.toString();
      if (/^OpenSSL 3\.0\./.test(version)) expect(oracle.stdout.toString()).toContain('Signature Verified Successfully');

      const alice = generateKeyPairSync('ed25519');
      const env = signDsse(PAYLOAD, TYPE, alice.privateKey)._unsafeUnwrap();
      const envelope = { ...env, signatures: [...env.signatures, { sig: forged.toString('base64') }] };
      const result = verifyDsse(envelope, { keys: [alice.publicKey, nobody], threshold: 2 });
      expect(result._unsafeUnwrapErr().code).toBe('KEY_INVALID');
      expect(result._unsafeUnwrapErr().message).toContain('keys[1]');
    },
  );

  it('every small-order point, with either sign bit, is KEY_INVALID; a real key is not', () => {
    const alice = generateKeyPairSync('ed25519');
    const env = signDsse(PAYLOAD, TYPE, alice.privateKey)._unsafeUnwrap();
    const encodings = smallOrderEncodings();
    expect(new Set(encodings.map((e) => e.toString('hex'))).size).toBe(7);
    for (const encoding of encodings) {
      for (const sign of [0x00, 0x80]) {
        const raw = Buffer.from(encoding);
        raw[31] = (raw[31] as number) | sign;
        expect(verifyDsse(env, { keys: [ed25519Key(raw)] })._unsafeUnwrapErr().code, `${raw.toString('hex')}`).toBe('KEY_INVALID');
      }
    }
    expect(verifyDsse(env, { keys: [alice.publicKey] }).isOk()).toBe(true);
  });
});
