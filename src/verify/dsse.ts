import { KeyObject } from 'node:crypto';
import { err, ok, Result, safeTry } from 'neverthrow';
import { BackfillError, type BackfillErrorCode } from '../errors.js';
import { caseVariantName, duplicateName } from '../_internals/json-duplicates.js';
import { LONE_SURROGATE } from '../_internals/lone-surrogate.js';
import { decodeBase64 } from './base64.js';
import { DEFAULT_DSSE_THRESHOLD, MAX_DSSE_SIGNATURES } from './defaults.js';
import {
  keyIdentity,
  loadPrivateKey,
  loadPublicKey,
  signBytes,
  verifyBytes,
  type KeyInput,
  type LoadedKey,
  type SigningKey,
} from './keys.js';

/** One signature of a DSSE envelope. */
export interface DsseSignature {
  /** A hint only: it is never used to decide which key verifies the signature. */
  readonly keyid?: string;
  /** Base64 signature over the PAE of the payload. */
  readonly sig: string;
}

/** A DSSE envelope (JSON envelope, as in-toto and sigstore write it). */
export interface DsseEnvelope {
  /** Base64 payload. */
  readonly payload: string;
  readonly payloadType: string;
  readonly signatures: readonly DsseSignature[];
}

/**
 * The DSSE pre-authentication encoding that is signed:
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in bytes as
 * ASCII decimal.
 *
 * @example
 * ```ts
 * preAuthEncoding('text/plain', Buffer.from('hi')).toString(); // 'DSSEv1 10 text/plain 2 hi'
 * ```
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `, 'latin1'), type, Buffer.from(` ${payload.byteLength} `, 'latin1'), payload]);
}

/**
 * Signs `payload` into a DSSE envelope with one key or several (for t-of-n
 * policies). Ed25519, ECDSA P-256 (SHA-256, DER signature) and RSA ≥ 2048
 * bits (SHA-256, PSS by default or PKCS#1 v1.5) keys are accepted. The
 * payload and signatures are standard base64. PEM text or DER bytes
 * holding more than one private key (or a key and other bytes) is
 * `KEY_INVALID`: pass each key as its own entry (a key kept with its
 * certificate is one key).
 * More than `MAX_DSSE_SIGNATURES` (64) keys is `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * const env = signDsse(JSON.stringify(statement), 'application/vnd.in-toto+json', {
 *   key: readFileSync('signing.key', 'utf8'),
 *   keyid: 'release-2025',
 * });
 * if (env.isOk()) writeFileSync('manifest.dsse.json', JSON.stringify(env.value));
 * ```
 */
export function signDsse(
  payload: string | Uint8Array,
  payloadType: string,
  key: KeyInput | SigningKey | readonly (KeyInput | SigningKey)[],
): Result<DsseEnvelope, BackfillError> {
  if (typeof payloadType !== 'string' || payloadType.length === 0)
    return err(new BackfillError('INVALID_ARGUMENT', 'payloadType must be a non-empty string.'));
  if (LONE_SURROGATE.test(payloadType))
    return err(new BackfillError('INVALID_ARGUMENT', `payloadType ${notWellFormed}; the signature would be over another type.`));
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const pae = preAuthEncoding(payloadType, body);
  const keys = Array.isArray(key) ? (key as readonly (KeyInput | SigningKey)[]) : [key as KeyInput | SigningKey];
  if (keys.length === 0) return err(new BackfillError('INVALID_ARGUMENT', 'signDsse needs at least one key.'));
  if (keys.length > MAX_DSSE_SIGNATURES)
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        `signDsse was given ${keys.length} keys, more than the ${MAX_DSSE_SIGNATURES} signatures an envelope may carry (MAX_DSSE_SIGNATURES); verifyDsse would refuse it.`,
      ),
    );
  const signOne = (entry: KeyInput | SigningKey): Result<DsseSignature, BackfillError> => {
    const spec: SigningKey = isSigningKey(entry) ? entry : { key: entry };
    return loadPrivateKey(spec.key, spec.passphrase).map((loaded) => {
      const sig = signBytes(loaded, pae, spec.rsaPadding).toString('base64');
      return spec.keyid === undefined ? { sig } : { keyid: spec.keyid, sig };
    });
  };
  return Result.combine(keys.map(signOne)).map((signatures) => ({ payload: body.toString('base64'), payloadType, signatures }));
}

function isSigningKey(value: KeyInput | SigningKey): value is SigningKey {
  return typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof KeyObject);
}

/** Options for {@link verifyDsse}. */
export interface VerifyDsseOptions {
  /**
   * The trusted public keys, a non-empty array. A private key is refused
   * with `KEY_INVALID`, and so is an Ed25519 key outside the prime-order
   * subgroup (a real key plus a point of small order, which the real key's
   * holder can also sign for, so it would count as a second signer).
   */
  readonly keys: readonly KeyInput[];
  /**
   * How many distinct trusted keys must have signed: a whole number from 1
   * to the number of distinct keys. Only an absent value means the default
   * (`null` is `INVALID_ARGUMENT`).
   * @defaultValue `DEFAULT_DSSE_THRESHOLD` (1)
   */
  readonly threshold?: number;
  /** When set, the envelope's `payloadType` must equal it (`ENVELOPE_INVALID` otherwise). */
  readonly payloadType?: string;
}

/** The outcome for one signature of the envelope. */
export interface DsseSignatureCheck {
  /** Position in `signatures`. */
  readonly index: number;
  /** The `keyid` the envelope claims (untrusted, for display only). */
  readonly keyid?: string;
  /**
   * `valid`: verified by a trusted key and counted; `duplicate`: verified,
   * but by a key already counted; `invalid`: no trusted key verifies it;
   * `malformed`: its `sig` is not base64.
   */
  readonly verdict: 'valid' | 'duplicate' | 'invalid' | 'malformed';
  /** Index into `options.keys` of the key that verified it. */
  readonly keyIndex: number | null;
  readonly code?: BackfillErrorCode;
}

/**
 * The verdict on every signature of an envelope. A verified envelope has it;
 * a failed {@link verifyDsse} that got as far as trying the signatures
 * carries it as `error.partial`.
 */
export interface DsseVerdicts {
  readonly threshold: number;
  /** Distinct trusted keys with a valid signature. */
  readonly validKeys: number;
  readonly signatures: readonly DsseSignatureCheck[];
}

/** A verified envelope: the payload can be trusted. */
export interface DsseVerification extends DsseVerdicts {
  readonly payloadType: string;
  /** The decoded payload. */
  readonly payload: Buffer;
}

const notWellFormed = 'is not well-formed Unicode (it holds a lone UTF-16 surrogate, which has no UTF-8 form)';

/**
 * Why a key Go's JSON reader takes for a field, spelled otherwise, is refused. @internal
 */
export function goReadsAs(where: string, variant: { key: string; field: string }): string {
  return `${where} names ${JSON.stringify(variant.key)}, which Go's JSON reader (cosign, in-toto-golang, sigstore-go) takes for ${JSON.stringify(variant.field)}, matching names in any case: it and this verifier would read different values, so it is refused.`;
}

function envelopeError(message: string): BackfillError {
  return new BackfillError('ENVELOPE_INVALID', message);
}

/** Checks the envelope's shape; JSON text or bytes are parsed first. @internal */
export function parseEnvelope(input: DsseEnvelope | string | Uint8Array): Result<DsseEnvelope, BackfillError> {
  let value: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (cause) {
      return err(new BackfillError('ENVELOPE_INVALID', `The envelope is not JSON: ${(cause as Error).message}`, { cause }));
    }
    const twice = duplicateName(text);
    if (twice !== undefined)
      return err(
        envelopeError(`The envelope names ${JSON.stringify(twice)} twice; JSON readers disagree on which counts, so it is refused.`),
      );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return err(envelopeError('The envelope must be a JSON object.'));
  const env = value as Record<string, unknown>;
  const variant = caseVariantName(env, ['payload', 'payloadType', 'signatures']);
  if (variant !== undefined) return err(envelopeError(goReadsAs('The envelope', variant)));
  if (typeof env.payload !== 'string') return err(envelopeError('`payload` must be a base64 string.'));
  if (typeof env.payloadType !== 'string') return err(envelopeError('`payloadType` must be a string.'));
  // Its UTF-8 bytes are what is signed, and it has none: it would be encoded as U+FFFD, another type.
  if (LONE_SURROGATE.test(env.payloadType)) return err(envelopeError(`payloadType ${notWellFormed}; no signature can be over it.`));
  if (!Array.isArray(env.signatures)) return err(envelopeError('`signatures` must be an array.'));
  for (const [i, s] of (env.signatures as unknown[]).entries()) {
    const sig = s as Record<string, unknown> | null;
    if (typeof sig !== 'object' || sig === null || typeof sig.sig !== 'string')
      return err(envelopeError(`signatures[${i}].sig must be a base64 string.`));
    if (sig.keyid !== undefined && typeof sig.keyid !== 'string')
      return err(envelopeError(`signatures[${i}].keyid must be a string when present.`));
    const sigVariant = caseVariantName(sig, ['keyid', 'sig']);
    if (sigVariant !== undefined) return err(envelopeError(goReadsAs(`signatures[${i}]`, sigVariant)));
  }
  return ok(env as unknown as DsseEnvelope);
}

/**
 * Verifies a DSSE envelope against trusted keys with a t-of-n threshold.
 * Every signature is tried against every key (`keyid` is never trusted),
 * and each distinct key counts at most once, however many signatures it
 * made or however often it is listed. Standard and URL-safe base64 are
 * accepted. An envelope of more than `MAX_DSSE_SIGNATURES` (64)
 * signatures is `ENVELOPE_INVALID` before any is tried, and so is one that
 * names a field twice, or in another case beside its own (`PAYLOAD`,
 * `Sig`), which Go's JSON reader (cosign's) would read instead.
 *
 * `Ok` means the threshold was met and the payload can be trusted. `Err`
 * carries a code (`ENVELOPE_INVALID`, `BASE64_INVALID`, `SIGNATURE_MISSING`,
 * `SIGNATURE_INVALID`, `KEY_INVALID`, `INVALID_ARGUMENT`). When the
 * signatures were tried (`SIGNATURE_INVALID`, or `BASE64_INVALID` for an
 * envelope whose every `sig` is malformed), `error.partial` holds the
 * per-signature verdicts ({@link DsseVerdicts}); an error before that
 * (a bad key, option or envelope) has none.
 *
 * @example
 * ```ts
 * const result = verifyDsse(readFileSync('manifest.dsse.json', 'utf8'), { keys: [alicePem, bobPem], threshold: 2 });
 * if (result.isErr()) {
 *   // e.g. SIGNATURE_INVALID: 1 of the 2 required trusted keys signed
 *   for (const s of result.error.partial?.signatures ?? []) console.error(`signature ${s.index}: ${s.verdict}`);
 *   throw result.error;
 * }
 * const manifest = JSON.parse(result.value.payload.toString('utf8'));
 * ```
 */
export function verifyDsse(
  envelope: DsseEnvelope | string | Uint8Array,
  options: VerifyDsseOptions,
): Result<DsseVerification, BackfillError<DsseVerdicts>> {
  return checkInputs(envelope, options)
    .mapErr((e) => e.withoutPartial())
    .andThen(countSignatures);
}

/** What the signatures are checked with, once the keys, options and envelope are valid. */
interface DsseInputs {
  readonly env: DsseEnvelope;
  readonly payload: Buffer;
  readonly loaded: readonly LoadedKey[];
  readonly identities: readonly string[];
  readonly threshold: number;
}

/** Loads the keys and checks the threshold and the envelope; nothing has been verified yet. */
function checkInputs(envelope: DsseEnvelope | string | Uint8Array, options: VerifyDsseOptions): Result<DsseInputs, BackfillError> {
  return safeTry(function* () {
    if (typeof options !== 'object' || options === null || !Array.isArray(options.keys) || options.keys.length === 0)
      return err(new BackfillError('INVALID_ARGUMENT', '`keys` must be a non-empty array of trusted public keys.'));
    // Only an absent threshold means the default: a `null` from a config file must not quietly become 1.
    const threshold = options.threshold === undefined ? DEFAULT_DSSE_THRESHOLD : options.threshold;
    const loaded = yield* Result.combine(
      options.keys.map((input, i) =>
        loadPublicKey(input).mapErr((e) => new BackfillError('KEY_INVALID', `keys[${i}]: ${e.message}`, { cause: e })),
      ),
    );
    const identities = loaded.map((k) => keyIdentity(k.key));
    const distinct = new Set(identities).size;
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > distinct) {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          `threshold must be an integer from 1 to the number of distinct keys (${distinct}), got ${typeof threshold === 'string' ? JSON.stringify(threshold) : String(threshold)}.`,
        ),
      );
    }
    const env = yield* parseEnvelope(envelope);
    if (options.payloadType !== undefined && env.payloadType !== options.payloadType) {
      return err(envelopeError(`payloadType is ${JSON.stringify(env.payloadType)}, expected ${JSON.stringify(options.payloadType)}.`));
    }
    const payload = yield* decodeBase64(env.payload, 'payload');
    if (env.signatures.length === 0) return err(new BackfillError('SIGNATURE_MISSING', 'The envelope has no signatures; sign it first.'));
    // Checked before any is tried: each costs a verification per trusted key.
    if (env.signatures.length > MAX_DSSE_SIGNATURES)
      return err(
        envelopeError(
          `The envelope has ${env.signatures.length} signatures, more than the ${MAX_DSSE_SIGNATURES} verified (MAX_DSSE_SIGNATURES), so none was tried.`,
        ),
      );
    return ok({ env, payload, loaded, identities, threshold });
  });
}

/** Tries every signature against every trusted key; each distinct key counts once toward `threshold`. */
function countSignatures(inputs: DsseInputs): Result<DsseVerification, BackfillError<DsseVerdicts>> {
  const { env, payload, loaded, identities, threshold } = inputs;
  const pae = preAuthEncoding(env.payloadType, payload);

  const counted = new Set<string>();
  const checks: DsseSignatureCheck[] = env.signatures.map((signature, index) => {
    const hint = signature.keyid === undefined ? {} : { keyid: signature.keyid };
    const sig = decodeBase64(signature.sig, `signatures[${index}].sig`);
    if (sig.isErr()) return { index, ...hint, verdict: 'malformed', keyIndex: null, code: 'BASE64_INVALID' };
    let duplicateOf: number | null = null;
    for (const [k, key] of loaded.entries()) {
      if (!verifyBytes(key, pae, sig.value)) continue;
      const identity = identities[k] as string;
      if (!counted.has(identity)) {
        counted.add(identity);
        return { index, ...hint, verdict: 'valid', keyIndex: k };
      }
      duplicateOf ??= k;
    }
    return duplicateOf === null
      ? { index, ...hint, verdict: 'invalid', keyIndex: null, code: 'SIGNATURE_INVALID' }
      : { index, ...hint, verdict: 'duplicate', keyIndex: duplicateOf };
  });
  const verdicts: DsseVerdicts = { threshold, validKeys: counted.size, signatures: checks };
  if (counted.size >= threshold) return ok({ payloadType: env.payloadType, payload, ...verdicts });
  const allMalformed = checks.every((c) => c.verdict === 'malformed');
  return err(
    new BackfillError(
      allMalformed ? 'BASE64_INVALID' : 'SIGNATURE_INVALID',
      allMalformed
        ? 'No signature in the envelope is valid base64.'
        : `${counted.size} of the ${threshold} required trusted keys signed this envelope; check the keys and that the payload is unmodified.`,
      { partial: verdicts },
    ),
  );
}
