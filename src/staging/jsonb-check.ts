/**
 * Finds what PostgreSQL's jsonb input will refuse, on the raw line, before
 * the line reaches the server, so the error can name the member and line.
 *
 * @module
 */

/** Why jsonb would refuse a line, and where in the line. */
export interface JsonbProblem {
  /** Index of the offending `\u` escape in the raw line. */
  readonly index: number;
  readonly reason: string;
}

function hexAt(raw: string, at: number): number {
  const hex = raw.slice(at, at + 4);
  return /^[0-9A-Fa-f]{4}$/.test(hex) ? parseInt(hex, 16) : -1;
}

/**
 * Scans a raw JSON line for the escapes jsonb rejects although JSON allows
 * them: `\u0000` (text cannot hold NUL) and UTF-16 surrogates that are not a
 * high/low pair. Escapes are read pairwise, so `\\u0000` (an escaped
 * backslash, then the letters `u0000`) is correctly left alone. Assumes the
 * line is valid JSON, where backslashes occur only inside strings.
 *
 * @returns the first problem, or `undefined` when jsonb will accept the line
 * @example
 * ```ts
 * findJsonbProblem('{"a":"x\\u0000"}');  // { index: 7, reason: '\\u0000 (NUL) …' }
 * findJsonbProblem('{"a":"x\\\\u0000"}'); // undefined
 * ```
 */
export function findJsonbProblem(raw: string): JsonbProblem | undefined {
  let i = raw.indexOf('\\');
  while (i !== -1) {
    if (raw.charCodeAt(i + 1) !== 0x75 /* u */) {
      // Any other escape is two characters; skipping both keeps the parity.
      i = raw.indexOf('\\', i + 2);
      continue;
    }
    const code = hexAt(raw, i + 2);
    if (code === 0) return { index: i, reason: '\\u0000 (NUL), which PostgreSQL text and jsonb cannot hold' };
    if (code >= 0xdc00 && code <= 0xdfff) {
      return { index: i, reason: `\\u${raw.slice(i + 2, i + 6)} is a low surrogate without a high surrogate before it` };
    }
    if (code >= 0xd800 && code <= 0xdbff) {
      const low = raw.charCodeAt(i + 6) === 0x5c && raw.charCodeAt(i + 7) === 0x75 ? hexAt(raw, i + 8) : -1;
      if (low < 0xdc00 || low > 0xdfff) {
        return { index: i, reason: `\\u${raw.slice(i + 2, i + 6)} is a high surrogate without a low surrogate after it` };
      }
      i = raw.indexOf('\\', i + 12);
      continue;
    }
    i = raw.indexOf('\\', i + 6);
  }
  return undefined;
}
