const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** Whether `text` is a SHA-256 digest written as 64 hexadecimal digits (either case), as `sha256sum` prints one. */
export function isSha256Hex(text: string): boolean {
  return SHA256_HEX.test(text);
}
