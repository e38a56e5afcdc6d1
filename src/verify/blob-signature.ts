import { createHash, createVerify, constants } from 'node:crypto';
import { ResultAsync, err, ok, safeTry, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { decodeBase64 } from './base64.js';
import { hashFile, type FileDigest } from './hash-file.js';
import { loadPublicKey, type KeyInput, type KeyKind } from './keys.js';

/** What {@link verifyBlobSignature} verified. */
export interface BlobSignatureVerification {
  readonly path: string;
  /** SHA-256 of the blob, lowercase hex. */
  readonly sha256: string;
  readonly bytes: number;
  readonly keyKind: KeyKind;
}

/** Options for {@link verifyBlobSignature}. */
export interface VerifyBlobSignatureOptions {
  /** Stops hashing the file; the result is then `Err` with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/**
 * Verifies a detached signature over a file the way key-based
 * `cosign verify-blob --key cosign.pub --signature blob.sig blob` does:
 * an ECDSA P-256 signature (ASN.1 DER, base64) over the SHA-256 of the
 * blob. RSA keys (PKCS#1 v1.5 with SHA-256, as cosign signs with RSA) work
 * too. The file is streamed, never held in memory. Keyless (Fulcio
 * certificates) and Rekor transparency-log checks are out of scope. For a
 * `SHA256SUMS` file, pass the signature to `verifyChecksums` (its
 * `signature` option) instead: it reads the file once, so the lines it
 * checks are the ones signed.
 *
 * Errors: `BASE64_INVALID`, `KEY_INVALID` (not P-256/RSA), `SIGNATURE_INVALID`
 * (wrong key, tampered blob, truncated signature), `IO_ERROR`.
 *
 * @example
 * ```ts
 * // replaces: cosign verify-blob --key cosign.pub --signature SHA256SUMS.sig SHA256SUMS
 * const r = await verifyBlobSignature('SHA256SUMS', readFileSync('SHA256SUMS.sig', 'utf8'), readFileSync('cosign.pub', 'utf8'));
 * if (r.isErr()) throw r.error;
 * ```
 */
export function verifyBlobSignature(
  file: string,
  signatureBase64: string,
  publicKeyPem: KeyInput,
  options: VerifyBlobSignatureOptions = {},
): ResultAsync<BlobSignatureVerification, BackfillError> {
  return safeTry(async function* () {
    const verifier = yield* blobVerifier(signatureBase64, publicKeyPem);
    const digest = yield* ResultAsync.fromPromise(
      hashFile(file, { signal: options.signal, onChunk: (chunk) => verifier.update(chunk) }),
      (error) => toBackfillError(error, 'IO_ERROR', { path: file }),
    );
    return verifier.verdict(file, digest);
  });
}

/**
 * {@link verifyBlobSignature} over bytes already read (`file` only names
 * them in the result and errors): how `verifyChecksums` checks the very
 * bytes it then parses.
 *
 * @internal
 */
export function verifyBlobBytes(
  file: string,
  bytes: Uint8Array,
  signatureBase64: string,
  publicKeyPem: KeyInput,
): Result<BlobSignatureVerification, BackfillError> {
  return blobVerifier(signatureBase64, publicKeyPem).andThen((verifier) => {
    verifier.update(bytes);
    return verifier.verdict(file, { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length });
  });
}

interface BlobVerifier {
  update(chunk: Uint8Array): void;
  verdict(file: string, digest: FileDigest): Result<BlobSignatureVerification, BackfillError>;
}

/** Decodes the signature and loads the key (before any byte of the blob is read), then takes the blob in chunks. */
function blobVerifier(signatureBase64: string, publicKeyPem: KeyInput): Result<BlobVerifier, BackfillError> {
  // cosign writes the .sig file without a newline, but a copy-paste often adds one.
  const text = String(signatureBase64).trim();
  if (text.startsWith('{')) {
    return err(
      new BackfillError(
        'BASE64_INVALID',
        'The signature is JSON, not base64: a cosign or sigstore bundle (`cosign sign-blob --bundle`)? Bundles are not read here (their transparency-log and certificate checks are out of scope); pass the bare base64 signature (`cosign sign-blob --output-signature`).',
      ),
    );
  }
  return decodeBase64(text, 'The signature').andThen((signature) =>
    loadPublicKey(publicKeyPem).andThen(({ key, kind }): Result<BlobVerifier, BackfillError> => {
      if (kind !== 'ecdsa-p256' && kind !== 'rsa') {
        return err(
          new BackfillError(
            'KEY_INVALID',
            `verifyBlobSignature takes ECDSA P-256 or RSA keys (what cosign verify-blob --key checks); this is ${kind}.`,
          ),
        );
      }
      const verifier = createVerify('sha256');
      return ok({
        update: (chunk) => verifier.update(chunk),
        verdict(file, { sha256, bytes }) {
          let valid: boolean;
          try {
            valid = verifier.verify(
              kind === 'rsa' ? { key, padding: constants.RSA_PKCS1_PADDING } : { key, dsaEncoding: 'der' },
              signature,
            );
          } catch {
            valid = false;
          }
          return valid
            ? ok({ path: file, sha256, bytes, keyKind: kind })
            : err(
                new BackfillError(
                  'SIGNATURE_INVALID',
                  `The signature over ${file} (sha256 ${sha256}) does not verify with the given key; check the key and that the file is unmodified.`,
                  { context: { path: file, digest: sha256 } },
                ),
              );
        },
      });
    }),
  );
}
