import { constants, createPrivateKey, createPublicKey, KeyObject, sign, verify } from 'node:crypto';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { MIN_RSA_BITS } from './defaults.js';
import { ed25519PointKind } from './edwards25519.js';

/** A key as PEM text, PEM or DER bytes (a public key's DER: SubjectPublicKeyInfo, or an RSA key's PKCS#1 `RSAPublicKey`, exactly one DER element with nothing after it), or a node:crypto `KeyObject`. */
export type KeyInput = string | Uint8Array | KeyObject;

/** A private key for signing, with an optional passphrase and `keyid`. */
export interface SigningKey {
  readonly key: KeyInput;
  readonly passphrase?: string;
  /** Written into the signature as a hint; verifiers never trust it. */
  readonly keyid?: string;
  /**
   * RSA padding when signing with an RSA key.
   * @defaultValue `'pss'` (RSASSA-PSS, MGF1-SHA-256, 32-byte salt)
   */
  readonly rsaPadding?: 'pss' | 'pkcs1';
}

/** Key families the verifier accepts. */
export type KeyKind = 'ed25519' | 'ecdsa-p256' | 'rsa' | 'rsa-pss';

/** A parsed key and what kind it is. @internal */
export interface LoadedKey {
  readonly key: KeyObject;
  readonly kind: KeyKind;
}

function keyError(message: string, cause?: unknown): BackfillError {
  return new BackfillError('KEY_INVALID', message, cause === undefined ? {} : { cause });
}

/** Classifies a key, refusing curves, types and sizes the library does not accept. @internal */
export function keyKind(key: KeyObject): Result<KeyKind, BackfillError> {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ed25519') {
    const refused = key.type === 'public' ? ed25519KeyProblem(key) : undefined;
    return refused === undefined ? ok('ed25519') : err(refused);
  }
  if (type === 'ec') {
    return details.namedCurve === 'prime256v1'
      ? ok('ecdsa-p256')
      : err(keyError(`ECDSA curve ${String(details.namedCurve)} is not supported; use P-256 (prime256v1).`));
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return err(keyError(`RSA keys must have at least ${MIN_RSA_BITS} bits, this one has ${bits}.`));
    // With e = 1 a signature is the padded digest itself: anyone can make one, no private key needed.
    // An even e is no RSA key at all. Both would let a trusted key be signed for by nobody in particular.
    const e = details.publicExponent ?? 0n;
    return e >= 3n && e % 2n === 1n
      ? ok(type)
      : err(keyError(`RSA public exponent ${e} is not accepted: it must be odd and at least 3 (usually 65537).`));
  }
  return err(keyError(`${String(type)} keys are not supported; use Ed25519, ECDSA P-256 or RSA.`));
}

/**
 * Why an Ed25519 public key is refused, or `undefined` when it is a point of
 * the prime-order subgroup, as every key made from a private key is. (A
 * private key's own public point always is, so only public keys are checked.)
 */
function ed25519KeyProblem(key: KeyObject): BackfillError | undefined {
  const x = String(key.export({ format: 'jwk' }).x);
  const named = `The Ed25519 public key ${x} (base64url)`;
  switch (ed25519PointKind(Buffer.from(x, 'base64url'))) {
    case 'prime-order':
      return undefined;
    case 'small-order':
      return keyError(
        `${named} is a point of small order, not a key anyone holds; some OpenSSL versions accept forged signatures under it.`,
      );
    case 'mixed-order':
      return keyError(
        `${named} is not in the prime-order subgroup: it is some key plus a point of small order, and whoever holds that key's private key can also sign for this one, so one signer could count as two toward a threshold. No key made by Ed25519 key generation looks like this; trust the signer's real key instead.`,
      );
    case 'not-a-point':
      return keyError(`${named} is not a point of the curve, so no signature can verify under it; check that the right key was given.`);
  }
}

/** Key text or bytes as text, byte for byte, to look for PEM labels in. */
function asText(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
}

function isPem(input: string | Uint8Array): boolean {
  return asText(input).includes('-----BEGIN');
}

/**
 * The label of the first private key in PEM text (`EC PRIVATE KEY`,
 * `ENCRYPTED PRIVATE KEY`, cosign's `ENCRYPTED SIGSTORE PRIVATE KEY`, an
 * OpenSSH or PGP private key…), or `undefined` when it holds none.
 */
function privatePemLabel(text: string): string | undefined {
  return /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----/.exec(text)?.[1];
}

/** The labels of a PEM text's blocks that hold a key or certificate (EC PARAMETERS, which only name a curve, left out). */
function pemKeyLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!).filter((label) => label !== 'EC PARAMETERS');
}

/**
 * Refuses PEM text with more than one key (a bundle of keys, a certificate
 * chain): node:crypto would read one and drop the rest unseen, so a key the
 * caller trusts would not count, or one meant to sign would not sign.
 * `advice` says what to pass instead. For signing only private keys count
 * (`privateOnly`): a key beside its certificate is one key to sign with.
 */
function severalPemKeys(text: string, advice: string, privateOnly = false): BackfillError | undefined {
  const labels = pemKeyLabels(text).filter((label) => !privateOnly || label.includes('PRIVATE KEY'));
  return labels.length > 1
    ? keyError(`The PEM text holds ${labels.length} keys or certificates (${labels.join(', ')}), and only one would be read; ${advice}.`)
    : undefined;
}

/** Whether DER bytes that are no SPKI public key parse as a private key (PKCS#8, encrypted or not, SEC1 or PKCS#1). */
function isPrivateDer(der: Buffer): boolean {
  for (const type of ['pkcs8', 'sec1', 'pkcs1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch (cause) {
      // An encrypted PKCS#8 key is recognised before any passphrase is needed.
      if ((cause as { code?: unknown }).code === 'ERR_MISSING_PASSPHRASE') return true;
    }
  }
  return false;
}

/**
 * An RSA public key as bare PKCS#1 DER (`openssl rsa -RSAPublicKey_out
 * -outform DER`), which PEM text is read as under its `RSA PUBLIC KEY`
 * label; any other bytes fail with `spkiError`, the error for the form
 * keys usually come in.
 */
function rsaPkcs1Der(der: Buffer, spkiError: unknown): KeyObject {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
  } catch {
    throw spkiError;
  }
}

/**
 * Why DER bytes are not exactly one DER element: bytes after it (a second
 * key appended to the first, or junk), or an outer length that BER allows
 * and DER does not (indefinite, or longer than it needs to be). OpenSSL
 * reads the first element and drops the rest unseen; Go's
 * `x509.ParsePKIXPublicKey` and `x509.ParsePKCS8PrivateKey` (cosign's
 * readers) and Python's `cryptography` refuse such bytes. `undefined` when
 * they are one whole element.
 */
function notOneDerElement(der: Buffer): string | undefined {
  const first = der[1];
  if (first === undefined) return 'it is too short';
  let end = 2 + first;
  if (first >= 0x80) {
    const lengthBytes = first & 0x7f;
    if (lengthBytes === 0) return 'its length is indefinite, which BER allows and DER does not';
    if (lengthBytes > 4 || der.length < 2 + lengthBytes) return 'its length does not fit';
    const length = der.readUIntBE(2, lengthBytes);
    if (der[2] === 0 || length < 0x80) return 'its length is not written in its shortest form, as DER requires';
    end = 2 + lengthBytes + length;
  }
  return end < der.length
    ? `${der.length - end} bytes follow the key (a second key appended to it, or other data), which would be dropped unseen`
    : undefined;
}

/** The DER inside each block of PEM text (RFC 1421 headers, if any, left out). */
function pemBodies(text: string): Buffer[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g)].map((block) => {
    const lines = (block[2] as string).split(/\r?\n/);
    const blank = lines.some((line) => line.includes(':')) ? lines.findIndex((line) => line.trim() === '') : -1;
    return Buffer.from((blank < 0 ? lines : lines.slice(blank)).join(''), 'base64');
  });
}

/** Refuses key bytes that are more than one DER element (see {@link notOneDerElement}). */
function oneKeyOnly(ders: readonly Buffer[], form: string): BackfillError | undefined {
  for (const der of ders) {
    const problem = notOneDerElement(der);
    if (problem !== undefined)
      return keyError(`The ${form} is not one key in DER: ${problem}. Pass each key on its own, as \`openssl pkey\` writes it.`);
  }
  return undefined;
}

/** Refuses a private key given where a public key belongs; names its form, never its bytes. */
function privateKeyGiven(form: string): BackfillError {
  return keyError(
    `A private key (${form}) was given to verify with; pass the public key instead (for example cosign.pub, not cosign.key, or the output of \`openssl pkey -pubout\`), and keep the private key away from where releases are verified.`,
  );
}

/**
 * Parses a public key. A private key (PEM, DER or `KeyObject`, encrypted or
 * not) is refused: a verifier has no use for one, and a private key handed
 * to it by mistake is a private key copied to where it does not belong.
 * @internal
 */
export function loadPublicKey(input: KeyInput): Result<LoadedKey, BackfillError> {
  let key: KeyObject;
  try {
    if (input instanceof KeyObject) {
      if (input.type === 'private') return err(privateKeyGiven('a private KeyObject'));
      key = input;
    } else if (isPem(input)) {
      const text = asText(input);
      const label = privatePemLabel(text);
      if (label !== undefined) return err(privateKeyGiven(`PEM "${label}"`));
      const several = severalPemKeys(text, 'pass each public key on its own (one entry of `keys` each)');
      if (several !== undefined) return err(several);
      key = createPublicKey(typeof input === 'string' ? input : Buffer.from(input));
      const whole = oneKeyOnly(pemBodies(text), 'PEM block');
      if (whole !== undefined) return err(whole);
    } else if (typeof input === 'string') return err(keyError('The key is a string but not PEM; pass PEM text, DER bytes or a KeyObject.'));
    else {
      const der = Buffer.from(input);
      try {
        key = createPublicKey({ key: der, format: 'der', type: 'spki' });
      } catch (cause) {
        if (isPrivateDer(der)) return err(privateKeyGiven('DER'));
        key = rsaPkcs1Der(der, cause);
      }
      const whole = oneKeyOnly([der], 'DER key');
      if (whole !== undefined) return err(whole);
    }
  } catch (cause) {
    return err(keyError(`The public key could not be parsed: ${(cause as Error).message}`, cause));
  }
  if (key.type !== 'public') return err(keyError('A secret (symmetric) key was given; pass a public key.'));
  return keyKind(key).map((kind) => ({ key, kind }));
}

/** Parses a private key for signing. @internal */
export function loadPrivateKey(input: KeyInput, passphrase?: string): Result<LoadedKey, BackfillError> {
  let key: KeyObject;
  try {
    if (input instanceof KeyObject) key = input;
    else if (isPem(input)) {
      const several = severalPemKeys(asText(input), 'pass each private key on its own (an array of keys signs with each)', true);
      if (several !== undefined) return err(several);
      key = createPrivateKey({
        key: typeof input === 'string' ? input : Buffer.from(input),
        ...(passphrase === undefined ? {} : { passphrase }),
      });
    } else if (typeof input === 'string') return err(keyError('The key is a string but not PEM; pass PEM text, DER bytes or a KeyObject.'));
    else {
      const der = Buffer.from(input);
      key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8', ...(passphrase === undefined ? {} : { passphrase }) });
      // Two keys in one DER would sign with the first alone, as two in one PEM text would (refused above).
      const whole = oneKeyOnly([der], 'DER private key');
      if (whole !== undefined) return err(whole);
    }
  } catch (cause) {
    return err(keyError(`The private key could not be parsed: ${(cause as Error).message}`, cause));
  }
  if (key.type !== 'private') return err(keyError('Signing needs a private key.'));
  return keyKind(key).map((kind) => ({ key, kind }));
}

/** Signs `data`: Ed25519 (pure), ECDSA P-256 with SHA-256 (DER), RSA with SHA-256 (PSS or PKCS#1 v1.5). @internal */
export function signBytes(loaded: LoadedKey, data: Buffer, rsaPadding: 'pss' | 'pkcs1' = 'pss'): Buffer {
  switch (loaded.kind) {
    case 'ed25519':
      return sign(null, data, loaded.key);
    case 'ecdsa-p256':
      return sign('sha256', data, { key: loaded.key, dsaEncoding: 'der' });
    case 'rsa':
    case 'rsa-pss': {
      const pss = rsaPadding === 'pss' || loaded.kind === 'rsa-pss';
      return sign(
        'sha256',
        data,
        pss
          ? { key: loaded.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
          : { key: loaded.key, padding: constants.RSA_PKCS1_PADDING },
      );
    }
  }
}

function tryVerify(algorithm: string | null, data: Buffer, key: Parameters<typeof verify>[2], signature: Buffer): boolean {
  try {
    return verify(algorithm, data, key, signature);
  } catch {
    // OpenSSL rejects some malformed signatures by throwing; that is just "does not verify".
    return false;
  }
}

/**
 * Verifies `signature` over `data`. ECDSA accepts DER and the 64-byte
 * IEEE P1363 (r‖s) form; RSA accepts PSS (any salt length) and PKCS#1 v1.5.
 *
 * @internal
 */
export function verifyBytes(loaded: LoadedKey, data: Buffer, signature: Buffer): boolean {
  const { key } = loaded;
  switch (loaded.kind) {
    case 'ed25519':
      return tryVerify(null, data, key, signature);
    case 'ecdsa-p256':
      return (
        tryVerify('sha256', data, { key, dsaEncoding: 'der' }, signature) ||
        (signature.length === 64 && tryVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature))
      );
    case 'rsa':
    case 'rsa-pss':
      return (
        tryVerify(
          'sha256',
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
          signature,
        ) ||
        (loaded.kind === 'rsa' && tryVerify('sha256', data, { key, padding: constants.RSA_PKCS1_PADDING }, signature))
      );
  }
}

/**
 * What a public key is, in one canonical spelling, so the same key counts
 * once however it was encoded, and a key counts once with its negation
 * (whose private key its holder has: n - d for P-256, -a for Ed25519):
 * Ed25519 by its 32 bytes with the sign bit of x cleared (A and -A), P-256
 * by its point's x coordinate (a compressed and an uncompressed point are
 * the same key, and Q and -Q share x), RSA by its modulus alone (under
 * `rsaEncryption` and `id-RSASSA-PSS` alike; whoever can factor the
 * modulus can make a second public exponent that verifies the same
 * signatures, so two exponents are still one signer). Never the encoded
 * bytes.
 *
 * @internal
 */
export function keyIdentity(key: KeyObject): string {
  const jwk = (key.asymmetricKeyType === 'rsa-pss' ? rsaPssAsRsa(key) : key).export({ format: 'jwk' });
  if (jwk.kty === 'RSA') return `rsa:${String(jwk.n)}`;
  // Q and -Q share x: the holder of d holds n - d, the private key of -Q.
  if (jwk.kty === 'EC') return `ec:${String(jwk.crv)}:${String(jwk.x)}`;
  if (jwk.crv === 'Ed25519') {
    // A and -A share y and differ in the sign bit of x: the holder of the scalar a can sign with -a.
    const raw = Buffer.from(String(jwk.x), 'base64url');
    raw[31] = (raw[31] as number) & 0x7f;
    return `${String(jwk.kty)}:${String(jwk.crv)}:${raw.toString('base64url')}`;
  }
  return `${String(jwk.kty)}:${String(jwk.crv)}:${String(jwk.x)}`;
}

/**
 * node:crypto exports no JWK for `rsa-pss` keys, but their SPKI holds the
 * same PKCS#1 `RSAPublicKey` as plain RSA: read it out of the BIT STRING.
 */
function rsaPssAsRsa(key: KeyObject): KeyObject {
  const spki = key.export({ format: 'der', type: 'spki' });
  const outer = derElement(spki, 0);
  const algorithm = derElement(spki, outer.contentStart);
  const bitString = derElement(spki, algorithm.end);
  // The first content byte of a BIT STRING counts its unused bits (0 here).
  return createPublicKey({ key: spki.subarray(bitString.contentStart + 1, bitString.end), format: 'der', type: 'pkcs1' });
}

/** One DER element at `offset`: where its content starts and where it ends. */
function derElement(der: Buffer, offset: number): { contentStart: number; end: number } {
  const first = der[offset + 1] as number;
  if (first < 0x80) return { contentStart: offset + 2, end: offset + 2 + first };
  const lengthBytes = first & 0x7f;
  const length = der.readUIntBE(offset + 2, lengthBytes);
  return { contentStart: offset + 2 + lengthBytes, end: offset + 2 + lengthBytes + length };
}
