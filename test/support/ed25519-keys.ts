/**
 * Ed25519 keys for tests that sign as a key no key generation makes: a
 * public key from its raw 32 bytes, a private key's scalar and nonce
 * prefix, and openssl as a second verifier.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DsseEnvelope } from '../../src/verify/index.js';
import { fromLe } from './ed25519-affine.js';

/** A public key from its raw 32 bytes (SubjectPublicKeyInfo around them). */
export function ed25519Key(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
}

export function sha512(...parts: Buffer[]): Buffer {
  return createHash('sha512').update(Buffer.concat(parts)).digest();
}

/** A private key's scalar a and nonce prefix (RFC 8032 §5.1.5), from its seed. */
export function secretOf(privateKey: KeyObject): { a: bigint; prefix: Buffer } {
  const h = sha512(Buffer.from(String(privateKey.export({ format: 'jwk' }).d), 'base64url'));
  const scalar = Buffer.from(h.subarray(0, 32));
  scalar[0] = (scalar[0] as number) & 248;
  scalar[31] = ((scalar[31] as number) & 127) | 64;
  return { a: fromLe(scalar), prefix: h.subarray(32) };
}

/** Whether `openssl pkeyutl -verify` verifies `signature` over `message` under the raw key (files written in `dir`). */
export function opensslVerifiesEd25519(dir: string, raw: Buffer, message: Buffer, signature: Buffer): boolean {
  writeFileSync(join(dir, 'key.pub'), ed25519Key(raw).export({ format: 'pem', type: 'spki' }));
  writeFileSync(join(dir, 'message.bin'), message);
  writeFileSync(join(dir, 'message.sig'), signature);
  const args = ['pkeyutl', '-verify', '-pubin', '-inkey', 'key.pub', '-rawin', '-in', 'message.bin', '-sigfile', 'message.sig'];
  return spawnSync('openssl', args, { cwd: dir }).stdout.toString().includes('Signature Verified Successfully');
}

/** A DSSE envelope around `payload` carrying these raw signatures, as a signer that is not signDsse writes it. */
export function envelopeOf(payload: Buffer, payloadType: string, signatures: readonly Buffer[]): DsseEnvelope {
  return { payload: payload.toString('base64'), payloadType, signatures: signatures.map((sig) => ({ sig: sig.toString('base64') })) };
}
