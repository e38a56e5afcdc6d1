/**
 * Reading a tar header's numeric fields and checking its checksum, for the
 * reader's tar parser and for telling a plain tar from other input. Imports
 * nothing, so a worker thread can load it from the TypeScript sources.
 */

/** Bytes in a tar block (a header, or a piece of data with its padding). */
export const BLOCK = 512;

/** The bytes C's `isspace` takes for blanks: space, tab, newline, vertical tab, form feed, carriage return. */
function isBlank(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * A numeric field: octal text, or GNU base-256 for values that do not fit.
 * A field of blanks only (after one NUL, which GNU tar skips) is no number:
 * GNU tar says "Blanks in header where numeric … value expected", skips the
 * header and exits 2, so a size of blanks must not be read as 0.
 */
export function numeric(block: Buffer, at: number, length: number): number | undefined {
  const first = block[at]!;
  const from = first === 0 ? at + 1 : at;
  if (from < at + length && block.subarray(from, at + length).every(isBlank)) return undefined;
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

/**
 * True when Python's tarfile reads the numeric field as a number: base-256
 * (a first byte of 0x80 or 0xff), or text up to its first NUL that is octal
 * digits between blanks, or blanks only (0). Anything else makes tarfile
 * take the header for the end of the archive (after the first header,
 * silently), where GNU tar reads the digits up to the first blank.
 */
export function pythonReadsNumber(block: Buffer, at: number, length: number): boolean {
  const first = block[at]!;
  if (first === 0x80 || first === 0xff) return true;
  let end = block.indexOf(0, at);
  if (end === -1 || end > at + length) end = at + length;
  let from = at;
  while (from < end && isBlank(block[from]!)) from++;
  while (end > from && isBlank(block[end - 1]!)) end--;
  for (let i = from; i < end; i++) if (block[i]! < 0x30 || block[i]! > 0x37) return false;
  return true;
}
