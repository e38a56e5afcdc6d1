import { ResultAsync, err, ok, safeTry, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { decodeBase64 } from './base64.js';
import { caseVariantName, duplicateName } from '../_internals/json-duplicates.js';
import { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPES } from './defaults.js';
import { goReadsAs, parseEnvelope, verifyDsse, type DsseEnvelope, type DsseVerdicts, type DsseVerification } from './dsse.js';
import { hashFile } from './hash-file.js';
import type { KeyInput } from './keys.js';

/** One subject of an in-toto statement. */
export interface InTotoSubject {
  readonly name?: string;
  readonly digest: Readonly<Record<string, string>>;
}

/** The parts of an in-toto Statement this module reads; other keys pass through. */
export interface InTotoStatement {
  readonly _type: string;
  readonly subject: readonly InTotoSubject[];
  readonly predicateType?: string;
  readonly predicate?: unknown;
  readonly [extra: string]: unknown;
}

/** The subject that names the file, and how the file was identified. */
export interface InTotoSubjectMatch {
  /** SHA-256 of the file, lowercase hex. */
  readonly sha256: string;
  readonly bytes: number;
  readonly subject: InTotoSubject;
  readonly statement: InTotoStatement;
  /** The signature check, when `keys` were given; `null` otherwise. */
  readonly verification: DsseVerification | null;
}

/** Options for {@link verifyInTotoSubject}. */
export interface VerifyInTotoSubjectOptions {
  /**
   * Trusted keys. When given, the envelope's signatures are verified first
   * (see `verifyDsse`); without them only the subject is checked, which
   * proves nothing about who made the statement.
   */
  readonly keys?: readonly KeyInput[];
  /**
   * Distinct keys that must have signed; needs `keys` (given without them,
   * it is `INVALID_ARGUMENT`, as no signature would be checked).
   * @defaultValue `DEFAULT_DSSE_THRESHOLD` (1)
   */
  readonly threshold?: number;
  /** Stops hashing the file; the result is then `Err` with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** The Statement's fields, as in-toto's Go Statement type reads them (v1 and v0.1 alike). */
const STATEMENT_FIELDS = ['_type', 'subject', 'predicateType', 'predicate'] as const;

function invalid(message: string): BackfillError {
  return new BackfillError('ENVELOPE_INVALID', message);
}

function parseStatement(payload: Buffer): Result<InTotoStatement, BackfillError> {
  let value: unknown;
  const text = payload.toString('utf8');
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return err(new BackfillError('ENVELOPE_INVALID', `The in-toto payload is not JSON: ${(cause as Error).message}`, { cause }));
  }
  const twice = duplicateName(text);
  if (twice !== undefined) {
    return err(
      invalid(
        `The in-toto payload names ${JSON.stringify(twice)} twice in one object; JSON readers disagree on which counts, so it is refused.`,
      ),
    );
  }
  const statement = value as Partial<InTotoStatement> | null;
  if (typeof statement !== 'object' || statement === null) return err(invalid('The in-toto payload must be a JSON object.'));
  const variant = caseVariantName(statement, STATEMENT_FIELDS);
  if (variant !== undefined) return err(invalid(goReadsAs('The in-toto payload', variant)));
  if (typeof statement._type !== 'string' || !IN_TOTO_STATEMENT_TYPES.includes(statement._type)) {
    return err(
      invalid(
        `The payload is not an in-toto Statement (_type ${JSON.stringify(statement._type)}; expected ${IN_TOTO_STATEMENT_TYPES.join(' or ')}).`,
      ),
    );
  }
  if (!Array.isArray(statement.subject) || statement.subject.length === 0) return err(invalid('The in-toto Statement has no subjects.'));
  for (const [i, subject] of statement.subject.entries()) {
    const digest = (subject as { digest?: unknown } | null)?.digest;
    if (typeof digest !== 'object' || digest === null) return err(invalid(`subject[${i}] has no digest object.`));
    const subjectVariant = caseVariantName(subject as object, ['name', 'digest']);
    if (subjectVariant !== undefined) return err(invalid(goReadsAs(`subject[${i}]`, subjectVariant)));
  }
  return ok(statement as InTotoStatement);
}

function payloadOf(
  envelope: DsseEnvelope | string | Uint8Array,
  options: VerifyInTotoSubjectOptions,
): Result<{ payload: Buffer; verification: DsseVerification | null }, BackfillError<DsseVerdicts>> {
  // A threshold asks for signatures: without keys it would check nothing, and a policy whose key list went missing would pass.
  if (options.keys === undefined && options.threshold !== undefined) {
    return err(
      new BackfillError<never>(
        'INVALID_ARGUMENT',
        '`threshold` was given without `keys`, so no signature would be checked; pass the trusted keys, or neither to check the subject alone.',
      ),
    );
  }
  if (options.keys !== undefined) {
    return verifyDsse(envelope, {
      keys: options.keys,
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      ...(options.threshold === undefined ? {} : { threshold: options.threshold }),
    }).map((verification) => ({
      payload: verification.payload,
      verification,
    }));
  }
  return parseEnvelope(envelope)
    .andThen((env) =>
      env.payloadType === IN_TOTO_PAYLOAD_TYPE
        ? decodeBase64(env.payload, 'payload').map((payload) => ({ payload, verification: null }))
        : err(invalid(`payloadType is ${JSON.stringify(env.payloadType)}, expected ${JSON.stringify(IN_TOTO_PAYLOAD_TYPE)}.`)),
    )
    .mapErr((e) => e.withoutPartial());
}

/**
 * Checks that an in-toto Statement (v1, or v0.1) in a DSSE envelope names
 * the file's SHA-256 among its subjects, as `cosign verify-blob-attestation`
 * does for the digest. Pass `keys` to verify the envelope's signatures in the
 * same call; the file is hashed in one streaming read.
 *
 * Errors: `ENVELOPE_INVALID` (not an in-toto statement, or one naming a
 * field twice or in another case beside its own, such as `Subject`, which
 * Go's JSON reader would read instead), `SUBJECT_MISMATCH`
 * (no subject has the file's digest; the context holds the digest and the
 * subject names), plus `verifyDsse`'s codes (with its per-signature verdicts
 * in `error.partial` when the signatures were tried) and `IO_ERROR`.
 *
 * @example
 * ```ts
 * const r = await verifyInTotoSubject(readFileSync('bundle.intoto.json', 'utf8'), 'bundle.tar.zst', { keys: [pubPem] });
 * if (r.isOk()) console.log(`attested as ${r.value.subject.name}`);
 * ```
 */
export function verifyInTotoSubject(
  envelope: DsseEnvelope | string | Uint8Array,
  file: string,
  options: VerifyInTotoSubjectOptions = {},
): ResultAsync<InTotoSubjectMatch, BackfillError<DsseVerdicts>> {
  return safeTry(async function* () {
    const { payload, verification } = yield* payloadOf(envelope, options);
    const statement = yield* parseStatement(payload).mapErr((e) => e.withoutPartial());
    const { sha256, bytes } = yield* ResultAsync.fromPromise(hashFile(file, { signal: options.signal }), (error) =>
      toBackfillError(error, 'IO_ERROR', { path: file }).withoutPartial(),
    );
    const subject = statement.subject.find((s) => typeof s.digest.sha256 === 'string' && s.digest.sha256.toLowerCase() === sha256);
    if (subject === undefined) {
      const names = statement.subject.map((s) => s.name ?? '(unnamed)');
      const message = `${file} (sha256 ${sha256}) is not among the statement's subjects (${names.join(', ')}).`;
      return err(new BackfillError<never>('SUBJECT_MISMATCH', message, { context: { path: file, digest: sha256, subjects: names } }));
    }
    return ok({ sha256, bytes, subject, statement, verification });
  });
}
