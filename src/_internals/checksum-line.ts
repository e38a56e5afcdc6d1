/**
 * One `sha256sum` line, written exactly as GNU `sha256sum` prints it: shared
 * by `writeChecksums` and by `writeDataset`'s `.sha256` file (which must not
 * depend on the verify module).
 *
 * @module
 */

const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

/** Does `sha256sum` escape this name (and mark the line with a leading `\`)? */
function needsEscape(name: Buffer): boolean {
  return name.includes(BACKSLASH) || name.includes(NL) || name.includes(CR);
}

function escapeName(name: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < name.length; i++) {
    const byte = name[i];
    const replacement = byte === BACKSLASH ? '\\\\' : byte === NL ? '\\n' : byte === CR ? '\\r' : undefined;
    if (replacement === undefined) continue;
    parts.push(name.subarray(from, i), Buffer.from(replacement, 'latin1'));
    from = i + 1;
  }
  parts.push(name.subarray(from));
  return Buffer.concat(parts);
}

/** Output forms of {@link formatChecksumLine}: what `sha256sum`, `sha256sum --binary` and `sha256sum --tag` print. */
export type ChecksumOutputFormat = 'text' | 'binary' | 'tag';

/**
 * One line, newline included, exactly as GNU `sha256sum` prints it for a
 * file named `name` (escaping `\`, newline and CR with a leading `\`).
 *
 * @example
 * ```ts
 * formatChecksumLine('a b.txt', sha).toString(); // `${sha}  a b.txt\n`
 * formatChecksumLine('a b.txt', sha, 'tag').toString(); // `SHA256 (a b.txt) = ${sha}\n`
 * ```
 */
export function formatChecksumLine(name: string | Uint8Array, sha256: string, format: ChecksumOutputFormat = 'text'): Buffer {
  const raw = typeof name === 'string' ? Buffer.from(name, 'utf8') : Buffer.from(name);
  const escaped = needsEscape(raw);
  const shown = escaped ? escapeName(raw) : raw;
  const prefix = escaped ? '\\' : '';
  const digest = sha256.toLowerCase();
  if (format === 'tag') {
    return Buffer.concat([Buffer.from(`${prefix}SHA256 (`, 'latin1'), shown, Buffer.from(`) = ${digest}\n`, 'latin1')]);
  }
  return Buffer.concat([
    Buffer.from(`${prefix}${digest} ${format === 'binary' ? '*' : ' '}`, 'latin1'),
    shown,
    Buffer.from('\n', 'latin1'),
  ]);
}
