/**
 * A private key given where the verifier wants the public one is refused
 * (KEY_INVALID, saying to pass the public key), in every form openssl
 * writes one, encrypted or not, and in cosign's own encrypted form; the
 * error never carries the key's bytes. Before, a plain private key was
 * quietly accepted (its public half used) and an encrypted one failed with
 * OpenSSL's "interrupted or cancelled".
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BackfillError } from '../../../src/errors.js';
import {
  preAuthEncoding,
  verifyBlobSignature,
  verifyChecksums,
  verifyDsse,
  verifyInTotoSubject,
  type KeyInput,
} from '../../../src/verify/index.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('openssl');
const dir = tempDir('bk-private-key-');

function openssl(...args: string[]): Buffer {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
}

/** A cosign-style encrypted private key: PEM around base64 JSON (scrypt + secretbox), which no OpenSSL reads. */
function cosignKey(label: string): string {
  const body = Buffer.from(
    JSON.stringify({
      kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 }, salt: Buffer.alloc(32, 7).toString('base64') },
      cipher: { name: 'nacl/secretbox', nonce: Buffer.alloc(24, 9).toString('base64') },
      ciphertext: Buffer.alloc(180, 0x5a).toString('base64'),
    }),
  ).toString('base64');
  return `-----BEGIN ${label}-----\n${body.replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
}

/** Every private key form: name → what is passed as the key. */
const privateKeys: Record<string, KeyInput> = {};
const payloadType = 'application/vnd.in-toto+json';
let signedBlob: string;

beforeAll(() => {
  if (tools.missing) return;
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.sec1.pem');
  openssl('genpkey', '-algorithm', 'ed25519', '-out', 'ed.pem');
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.pkcs8.pem');
  openssl('rsa', '-in', 'rsa.pkcs8.pem', '-traditional', '-out', 'rsa.pkcs1.pem');
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', 'ec.sec1.pem', '-out', 'ec.pkcs8.pem');
  openssl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', 'pass:hunter2', '-in', 'ec.sec1.pem', '-out', 'ec.enc.pem');
  openssl('ec', '-in', 'ec.sec1.pem', '-aes256', '-passout', 'pass:hunter2', '-out', 'ec.legacy-enc.pem');
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', 'ec.sec1.pem', '-outform', 'DER', '-out', 'ec.pkcs8.der');
  openssl(
    'pkcs8',
    '-topk8',
    '-v2',
    'aes-256-cbc',
    '-passout',
    'pass:hunter2',
    '-in',
    'ec.sec1.pem',
    '-outform',
    'DER',
    '-out',
    'ec.enc.der',
  );
  openssl('ec', '-in', 'ec.sec1.pem', '-outform', 'DER', '-out', 'ec.sec1.der');
  openssl('ec', '-in', 'ec.sec1.pem', '-pubout', '-out', 'ec.pub');
  openssl('ec', '-in', 'ec.sec1.pem', '-pubout', '-outform', 'DER', '-out', 'ec.pub.der');
  const text = (name: string) => readFileSync(join(dir, name), 'utf8');
  Object.assign(privateKeys, {
    'EC (SEC1 PEM)': text('ec.sec1.pem'),
    'Ed25519 (PKCS#8 PEM)': text('ed.pem'),
    'RSA (PKCS#8 PEM)': text('rsa.pkcs8.pem'),
    'RSA (PKCS#1 PEM)': text('rsa.pkcs1.pem'),
    'EC (PKCS#8 PEM)': text('ec.pkcs8.pem'),
    'EC (encrypted PKCS#8 PEM)': text('ec.enc.pem'),
    'EC (legacy encrypted PEM)': text('ec.legacy-enc.pem'),
    'EC (PKCS#8 PEM as bytes)': readFileSync(join(dir, 'ec.pkcs8.pem')),
    'EC (PKCS#8 DER)': readFileSync(join(dir, 'ec.pkcs8.der')),
    'EC (encrypted PKCS#8 DER)': readFileSync(join(dir, 'ec.enc.der')),
    'EC (SEC1 DER)': readFileSync(join(dir, 'ec.sec1.der')),
    'the public key followed by the private key': text('ec.pub') + text('ec.sec1.pem'),
    'cosign (ENCRYPTED SIGSTORE PRIVATE KEY)': cosignKey('ENCRYPTED SIGSTORE PRIVATE KEY'),
    'cosign (ENCRYPTED COSIGN PRIVATE KEY)': cosignKey('ENCRYPTED COSIGN PRIVATE KEY'),
    'a private KeyObject': createPrivateKey(text('ec.sec1.pem')),
  });
  writeFileSync(join(dir, 'blob'), 'the released dataset');
  signedBlob = openssl('dgst', '-sha256', '-sign', 'ec.sec1.pem', 'blob').toString('base64');
});

/** Pieces of a key's encoded body: none may appear in what the error shows. */
function bodyPieces(key: KeyInput): string[] {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) return [];
  const bytes = Buffer.from(key);
  const text = bytes.toString('latin1').includes('-----BEGIN')
    ? bytes
        .toString('latin1')
        .split('\n')
        .filter((l) => !l.startsWith('-----') && !l.includes(':') && l.length >= 16)
    : [bytes.toString('base64'), bytes.toString('hex')];
  return text.flatMap((line) => [line.slice(0, 16), line.slice(-16)]);
}

function expectRefused(error: BackfillError, key: KeyInput, name: string): void {
  expect(error.code, name).toBe('KEY_INVALID');
  expect(error.message, name).toMatch(/private key.*pass the public key/);
  const shown = `${error.message}\n${error.stack}\n${inspect(error, { depth: 5 })}\n${JSON.stringify(error)}`;
  for (const piece of bodyPieces(key)) expect(shown.includes(piece), `${name}: ${piece} is shown`).toBe(false);
}

describe.skipIf(tools.missing)(tools.title('a private key given to verify with'), () => {
  it('is refused by verifyBlobSignature, verifyChecksums, verifyDsse and verifyInTotoSubject, in every form', async () => {
    expect(Object.keys(privateKeys)).toHaveLength(15);
    const blob = join(dir, 'blob');
    const sums = join(dir, 'SHA256SUMS');
    writeFileSync(sums, `${createHash('sha256').update('the released dataset').digest('hex')}  blob\n`);
    const sumsSig = openssl('dgst', '-sha256', '-sign', 'ec.sec1.pem', 'SHA256SUMS').toString('base64');
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'blob', digest: { sha256: createHash('sha256').update('the released dataset').digest('hex') } }],
        predicateType: 'https://example.com/p',
        predicate: {},
      }),
    );
    writeFileSync(join(dir, 'pae'), preAuthEncoding(payloadType, statement));
    const envelope = {
      payload: statement.toString('base64'),
      payloadType,
      signatures: [{ sig: openssl('dgst', '-sha256', '-sign', 'ec.sec1.pem', 'pae').toString('base64') }],
    };
    // The public key verifies all of these: only the kind of key given makes the difference.
    const pub = readFileSync(join(dir, 'ec.pub'), 'utf8');
    expect((await verifyBlobSignature(blob, signedBlob, pub)).isOk()).toBe(true);
    expect(verifyDsse(envelope, { keys: [pub] }).isOk()).toBe(true);

    for (const [name, key] of Object.entries(privateKeys)) {
      expectRefused((await verifyBlobSignature(blob, signedBlob, key))._unsafeUnwrapErr(), key, `${name}, verifyBlobSignature`);
      expectRefused(
        (await verifyChecksums(sums, { signature: { signatureBase64: sumsSig, publicKey: key } }))._unsafeUnwrapErr(),
        key,
        `${name}, verifyChecksums`,
      );
      expectRefused(verifyDsse(envelope, { keys: [pub, key] })._unsafeUnwrapErr(), key, `${name}, verifyDsse`);
      expectRefused((await verifyInTotoSubject(envelope, blob, { keys: [key] }))._unsafeUnwrapErr(), key, `${name}, verifyInTotoSubject`);
    }
  });

  it.for([
    ['EC (SEC1 PEM)', 'ec.sec1.pem'],
    ['EC (encrypted PKCS#8 PEM)', 'ec.enc.pem'],
    ['EC (PKCS#8 DER)', 'ec.pkcs8.der'],
  ] as const)('is refused by checksums verify --key (%s), which never prints it', async ([name, file]) => {
    const sums = `${createHash('sha256').update('the released dataset').digest('hex')}  blob\n`;
    writeFileSync(join(dir, 'SUMS-cli'), sums);
    writeFileSync(join(dir, 'SUMS-cli.sig'), openssl('dgst', '-sha256', '-sign', 'ec.sec1.pem', 'SUMS-cli').toString('base64'));
    for (const json of [false, true]) {
      const run = await cli(
        ['checksums', 'verify', 'SUMS-cli', '--signature', 'SUMS-cli.sig', '--key', file, ...(json ? ['--json'] : [])],
        {
          cwd: dir,
        },
      );
      expect(run.code, `${name}: ${run.stdout}${run.stderr}`).not.toBe(0);
      const said = `${run.stdout}${run.stderr}`;
      expect(said).toMatch(/KEY_INVALID/);
      expect(said).toMatch(/private key.*pass the public key/);
      expect(said).not.toMatch(/blob: OK/);
      if (json) expect(jsonOf(run).error?.code).toBe('KEY_INVALID');
      for (const piece of bodyPieces(readFileSync(join(dir, file)))) expect(said.includes(piece), `${name}: ${piece} is shown`).toBe(false);
    }
  });

  it('is not needed: checksums verify --key takes the public key as PEM or DER', async () => {
    writeFileSync(join(dir, 'SUMS-pub'), `${createHash('sha256').update('the released dataset').digest('hex')}  blob\n`);
    writeFileSync(join(dir, 'SUMS-pub.sig'), openssl('dgst', '-sha256', '-sign', 'ec.sec1.pem', 'SUMS-pub').toString('base64'));
    for (const key of ['ec.pub', 'ec.pub.der']) {
      const run = await cli(['checksums', 'verify', 'SUMS-pub', '--signature', 'SUMS-pub.sig', '--key', key], { cwd: dir });
      expect(run.code, `${key}: ${run.stdout}${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(/signature: Verified OK \(ecdsa-p256 key/);
      expect(run.stdout).toMatch(/blob: OK/);
    }
  });
});
