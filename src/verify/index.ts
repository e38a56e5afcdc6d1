/**
 * ManifestVerifier (`@stella/backfill-kit/verify`): dataset tarballs against
 * their manifest, `SHA256SUMS` files exactly as `sha256sum --check` reads
 * them, DSSE envelopes and key-based `cosign verify-blob` signatures.
 *
 * @module
 */
export { parseChecksums, formatChecksumLine } from './checksums-file.js';
export type { ChecksumLine, ChecksumLineFormat, ChecksumOutputFormat, MalformedChecksumLine, ParsedChecksums } from './checksums-file.js';
export { verifyChecksums } from './verify-checksums.js';
export type { ChecksumCounts, ChecksumProgress, ChecksumReport, ChecksumResult, ChecksumStatus, VerifyChecksumsOptions } from './verify-checksums.js';
export { writeChecksums } from './write-checksums.js';
export type { WriteChecksumsOptions, WriteChecksumsResult, WrittenChecksum } from './write-checksums.js';
