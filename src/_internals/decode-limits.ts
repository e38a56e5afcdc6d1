/**
 * Decompression-bomb limits, shared by every decoder (worker threads load this
 * module from the TypeScript sources too, so it imports nothing).
 */

/** How far decoded output may grow. */
export interface DecodeLimits {
  /** Decoded bytes allowed in all. */
  readonly maxBytes: number;
  /** Decoded bytes allowed per stored (compressed) byte read so far, past {@link RATIO_GRACE_BYTES}. */
  readonly maxRatio: number;
}

/**
 * Decoded bytes allowed whatever the ratio: a small archive of a repetitive
 * member can inflate far more than a large one.
 */
export const RATIO_GRACE_BYTES = 64 * 1024 * 1024;

/** Which limit `decoded` bytes from `stored` bytes passed, if any. */
export function exceededLimit(decoded: number, stored: number, limits: DecodeLimits): 'bytes' | 'ratio' | undefined {
  if (decoded > limits.maxBytes) return 'bytes';
  if (decoded > RATIO_GRACE_BYTES && decoded > stored * limits.maxRatio) return 'ratio';
  return undefined;
}
