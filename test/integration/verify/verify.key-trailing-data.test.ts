/**
 * A trusted key is one whole DER element. Bytes after it (a second key
 * appended to the first, as `cat a.der b.der` makes, or junk), or an outer
 * length that BER allows and DER does not, were read by node:crypto as the
 * first key alone, the rest dropped unseen, where Python's `cryptography`
 * (and Go's `x509.ParsePKIXPublicKey`, which cosign reads keys with)
 * refuse the bytes. PEM text holding two keys was already refused for the
 * same reason; two keys in one DER, or in one PEM block's body, were not.
 */
import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signDsse, verifyBlobSignature, verifyChecksums, verifyDsse, type KeyInput } from '../../../src/verify/index.js';
import { hasTool, tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-key-trailing-');

/** Whether Python's `cryptography` loads the file as a public key: the oracle. */
function pythonLoads(file: string, pem: boolean): boolean {
  const loader = pem ? 'load_pem_public_key' : 'load_der_public_key';
  const script = [
    'import sys',
    `from cryptography.hazmat.primitives.serialization import ${loader}`,
    'try:',
    `    ${loader}(open(sys.argv[1], "rb").read())`,
    '    print("ok")',
    'except Exception:',
    '    print("refused")',
  ].join('\n');
  return execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }).trim() === 'ok';
}

const hasCryptography = (() => {
  if (!hasTool('python3')) return false;
  try {
    execFileSync('python3', ['-c', 'import cryptography'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
}

const spki = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' });
const pkcs1 = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'pkcs1' });

const a = generateKeyPairSync('ed25519');
const b = generateKeyPairSync('ed25519');
const r1 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const r2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const aDer = spki(a.publicKey);

/** name → [the key as passed, whether it is PEM, the key node:crypto read from it] */
const cases: Record<string, { input: Buffer | string; pem: boolean; read: KeyObject; signer: KeyObject }> = {
  'two SPKI keys in one DER': { input: Buffer.concat([aDer, spki(b.publicKey)]), pem: false, read: a.publicKey, signer: a.privateKey },
  'an SPKI key and junk': { input: Buffer.concat([aDer, Buffer.from('junk')]), pem: false, read: a.publicKey, signer: a.privateKey },
  'an SPKI key with a non-minimal length': {
    input: Buffer.concat([Buffer.from([0x30, 0x81, aDer[1] as number]), aDer.subarray(2)]),
    pem: false,
    read: a.publicKey,
    signer: a.privateKey,
  },
  'an SPKI key with an indefinite length': {
    input: Buffer.concat([Buffer.from([0x30, 0x80]), aDer.subarray(2), Buffer.from([0, 0])]),
    pem: false,
    read: a.publicKey,
    signer: a.privateKey,
  },
  'two PKCS#1 RSA keys in one DER': {
    input: Buffer.concat([pkcs1(r1.publicKey), pkcs1(r2.publicKey)]),
    pem: false,
    read: r1.publicKey,
    signer: r1.privateKey,
  },
  'two SPKI keys in one PEM block': {
    input: pem('PUBLIC KEY', Buffer.concat([aDer, spki(b.publicKey)])),
    pem: true,
    read: a.publicKey,
    signer: a.privateKey,
  },
  'two RSA keys in one RSA PUBLIC KEY block': {
    input: pem('RSA PUBLIC KEY', Buffer.concat([pkcs1(r1.publicKey), pkcs1(r2.publicKey)])),
    pem: true,
    read: r1.publicKey,
    signer: r1.privateKey,
  },
};

describe.skipIf(!hasCryptography)(
  `verifyDsse: a key followed by more bytes${hasCryptography ? '' : " (skipped: the oracle, Python's cryptography package, is not installed)"}`,
  () => {
    it('loads each key alone, as the oracle does (the cases below are not refused for another reason)', () => {
      for (const [name, der, isPem] of [
        ['a.der', aDer, false],
        ['r1.der', spki(r1.publicKey), false],
        ['r1.pem', pem('RSA PUBLIC KEY', pkcs1(r1.publicKey)), true],
      ] as const) {
        const file = join(dir, name);
        writeFileSync(file, der);
        expect(pythonLoads(file, isPem), name).toBe(true);
        const env = signDsse('x', 't', name.startsWith('a') ? a.privateKey : r1.privateKey)._unsafeUnwrap();
        expect(verifyDsse(env, { keys: [typeof der === 'string' ? der : new Uint8Array(der)] }).isOk(), name).toBe(true);
      }
    });

    for (const [name, c] of Object.entries(cases)) {
      it(`refuses ${name} with KEY_INVALID, as Python's cryptography does`, () => {
        const file = join(dir, `${name.replace(/\W+/g, '-')}.${c.pem ? 'pem' : 'der'}`);
        writeFileSync(file, c.input);
        expect(pythonLoads(file, c.pem)).toBe(false);
        // What node:crypto reads from it is the first key alone: an envelope that key signed verified before.
        const env = signDsse('x', 't', c.signer)._unsafeUnwrap();
        const input: KeyInput = typeof c.input === 'string' ? c.input : new Uint8Array(c.input);
        const result = verifyDsse(env, { keys: [input] });
        expect(result.isErr()).toBe(true);
        expect(result._unsafeUnwrapErr().code).toBe('KEY_INVALID');
        expect(result._unsafeUnwrapErr().message).toMatch(/keys\[0\]: .*one key/);
        expect(verifyDsse(env, { keys: [c.read] }).isOk()).toBe(true);
      });
    }

    it('refuses two RSA keys in one DER as the key of a signed SHA256SUMS and of a blob signature too', async () => {
      const sums = join(dir, 'SHA256SUMS');
      writeFileSync(join(dir, 'x'), 'x');
      writeFileSync(sums, '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881  x\n');
      const signatureBase64 = sign('sha256', Buffer.from('2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881  x\n'), {
        key: r1.privateKey,
        padding: constants.RSA_PKCS1_PADDING,
      }).toString('base64');
      const twoKeys = new Uint8Array(Buffer.concat([pkcs1(r1.publicKey), pkcs1(r2.publicKey)]));
      const alone = await verifyChecksums(sums, { signature: { signatureBase64, publicKey: new Uint8Array(pkcs1(r1.publicKey)) } });
      expect(alone.isOk() && alone.value.ok).toBe(true);
      const checked = await verifyChecksums(sums, { signature: { signatureBase64, publicKey: twoKeys } });
      expect(checked.isErr() && checked.error.code).toBe('KEY_INVALID');
      const blob = await verifyBlobSignature(sums, signatureBase64, twoKeys);
      expect(blob.isErr() && blob.error.code).toBe('KEY_INVALID');
    });

    it('refuses two private keys in one DER for signing, as Python cryptography does, where it signed with the first alone', () => {
      const file = join(dir, 'two-private.der');
      const one = a.privateKey.export({ format: 'der', type: 'pkcs8' });
      writeFileSync(file, Buffer.concat([one, b.privateKey.export({ format: 'der', type: 'pkcs8' })]));
      const script = [
        'import sys',
        'from cryptography.hazmat.primitives.serialization import load_der_private_key',
        'for f in sys.argv[1:]:',
        '    try:',
        '        load_der_private_key(open(f, "rb").read(), None)',
        '        print("ok")',
        '    except Exception:',
        '        print("refused")',
      ].join('\n');
      writeFileSync(join(dir, 'one-private.der'), one);
      const verdicts = execFileSync('python3', ['-c', script, join(dir, 'one-private.der'), file], { encoding: 'utf8' })
        .trim()
        .split('\n');
      expect(verdicts).toEqual(['ok', 'refused']);
      expect(signDsse('x', 't', new Uint8Array(one)).isOk()).toBe(true);
      const signed = signDsse('x', 't', new Uint8Array(Buffer.concat([one, b.privateKey.export({ format: 'der', type: 'pkcs8' })])));
      expect(signed.isErr() && signed.error.code).toBe('KEY_INVALID');
    });
  },
);
