/**
 * Reading a tar header's numeric fields and checking its checksum, for the
 * reader's tar parser and for telling a plain tar from other input. Imports
 * nothing, so a worker thread can load it from the TypeScript sources.
 */

/** Bytes in a tar block (a header, or a piece of data with its padding). */
export const BLOCK = 512;

/** A numeric field: octal text, or GNU base-256 for values that do not fit. */
export function numeric(block: Buffer, at: number, length: number): number | undefined {
  const first = block[at]!;
  if (first & 0x80) {
    if (first & 0x40) return undefined; // negative
    let value = first & 0x3f;
    for (let i = at + 1; i < at + length; i++) value = value * 256 + block[i]!;
    return Number.isSafeInteger(value) ? value : undefined;
  }
  const text = block
    .toString('latin1', at, at + length)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (text === '') return 0;
  return /^[0-7]+$/.test(text) && Number.isSafeInteger(parseInt(text, 8)) ? parseInt(text, 8) : undefined;
}

/** GNU tar accepts a header whose checksum matches as unsigned or as signed bytes. */
export function checksumMatches(block: Buffer): boolean {
  const stored = numeric(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}
