/**
 * `hex` with its digit at `at` (the last by default) changed to the next one
 * (f wraps to 0): a digest that differs from the real one in that digit
 * alone, which a comparison of only some of the digits would let through.
 */
export function oneDigitOff(hex: string, at = hex.length - 1): string {
  const next = ((Number.parseInt(hex.charAt(at), 16) + 1) % 16).toString(16);
  return `${hex.slice(0, at)}${next}${hex.slice(at + 1)}`;
}
