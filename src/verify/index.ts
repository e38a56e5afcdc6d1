/**
 * ManifestVerifier (`@stella/backfill-kit/verify`): dataset tarballs against
 * their manifest, `SHA256SUMS` files exactly as `sha256sum --check` reads
 * them, DSSE envelopes and key-based `cosign verify-blob` signatures.
 *
 * @module
 */
export { parseChecksums, formatChecksumLine } from './checksums-file.js';
export type { ChecksumLine, ChecksumLineFormat, ChecksumOutputFormat, MalformedChecksumLine, ParsedChecksums } from './checksums-file.js';
export { defaultChecksumsBaseDir, verifyChecksums } from './verify-checksums.js';
export type {
  ChecksumCounts,
  ChecksumProgress,
  HashingOptions,
  ChecksumReport,
  ChecksumResult,
  ChecksumStatus,
  ChecksumsSignature,
  VerifyChecksumsOptions,
} from './verify-checksums.js';
export { writeChecksums } from './write-checksums.js';
export type { WriteChecksumsOptions, WriteChecksumsResult, WrittenChecksum } from './write-checksums.js';
export { preAuthEncoding, signDsse, verifyDsse } from './dsse.js';
export type { DsseEnvelope, DsseSignature, DsseSignatureCheck, DsseVerdicts, DsseVerification, VerifyDsseOptions } from './dsse.js';
export type { KeyInput, KeyKind, SigningKey } from './keys.js';
export { verifyInTotoSubject } from './in-toto.js';
export type { InTotoStatement, InTotoSubject, InTotoSubjectMatch, VerifyInTotoSubjectOptions } from './in-toto.js';
export { verifyBlobSignature } from './blob-signature.js';
export type { BlobSignatureVerification, VerifyBlobSignatureOptions } from './blob-signature.js';
export { verifyDataset } from './verify-dataset.js';
export type {
  ArchiveVerification,
  ExpectedSha256Source,
  MemberCheck,
  MemberVerdict,
  MemberVerification,
  VerifyChecks,
  VerifyDatasetOptions,
  VerifyDatasetProgress,
  VerifyReport,
} from './verify-dataset.js';
export {
  DEFAULT_DSSE_THRESHOLD,
  DEFAULT_HASH_CONCURRENCY,
  DEFAULT_HASH_CHUNK_BYTES,
  IN_TOTO_PAYLOAD_TYPE,
  MAX_DSSE_SIGNATURES,
  MAX_WHOLE_FILE_BYTES,
  MIN_RSA_BITS,
} from './defaults.js';
