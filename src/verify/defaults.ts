/**
 * Defaults of the ManifestVerifier module. Options refer to these through
 * their `@defaultValue` tags, so the docs and the code cannot drift apart.
 *
 * @module
 */

/** Files hashed at the same time by `verifyChecksums` and `writeChecksums`. */
export const DEFAULT_HASH_CONCURRENCY = 4;

/** Read size for hashing files: large reads keep node:crypto busy, not the event loop. */
export const DEFAULT_HASH_CHUNK_BYTES = 4 * 1024 * 1024;

/** Signatures from distinct keys that `verifyDsse` needs by default. */
export const DEFAULT_DSSE_THRESHOLD = 1;

/**
 * Most signatures a DSSE envelope may carry, for `verifyDsse` (and
 * `verifyInTotoSubject`) and `signDsse`: each is tried against every trusted
 * key, so an envelope of tens of thousands of short signatures would cost
 * seconds of CPU, where real envelopes carry one or a few.
 */
export const MAX_DSSE_SIGNATURES = 64;

/** Smallest RSA modulus accepted for signing or verifying, in bits. */
export const MIN_RSA_BITS = 2048;

/** The DSSE payload type of in-toto statements. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** Statement `_type` values accepted by `verifyInTotoSubject` (v1, and v0.1 as cosign still writes it). */
export const IN_TOTO_STATEMENT_TYPES: readonly string[] = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];

/** Name of the directory-wide sums file `verifyDataset` looks for next to a tarball. */
export const SHA256SUMS_FILE_NAME = 'SHA256SUMS';

/**
 * Largest sums file, `.sha256` sidecar, key or signature read, in bytes: each
 * is read whole (a sums file once, so what its signature covers is what is
 * checked), and a pipe that never ends must not exhaust memory.
 */
export const MAX_WHOLE_FILE_BYTES = 16 * 1024 * 1024;
