/**
 * PostgreSQL `COPY … FROM STDIN` text format, done in the library so no
 * external tool (jq, sed) ever sits between a dataset and the table.
 *
 * @module
 */

const NEEDS_ESCAPE = /[\\\t\n\r]/;
const CONTROL = /[\t\n\r]/;
const CONTROLS = /[\t\n\r]/g;
const ESCAPED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * Escapes one field for COPY text format: backslash, tab, newline and
 * carriage return become `\\`, `\t`, `\n` and `\r`. Everything else passes
 * through unchanged (COPY text format is byte-transparent for the rest).
 *
 * @example
 * ```ts
 * encodeCopyField('a\tb\\c'); // 'a\\tb\\\\c'
 * ```
 */
export function encodeCopyField(value: string): string {
  // Most fields need nothing; the test is far cheaper than a replace.
  if (!NEEDS_ESCAPE.test(value)) return value;
  // JSON lines are full of backslashes but rarely hold a raw tab or CR, so
  // the native string replaceAll does nearly all of the work.
  const escaped = value.includes('\\') ? value.replaceAll('\\', '\\\\') : value;
  return CONTROL.test(escaped) ? escaped.replace(CONTROLS, (c) => ESCAPED[c] ?? c) : escaped;
}

/**
 * One COPY text-format row: the escaped fields joined by tabs, ending in a
 * newline.
 *
 * @example
 * ```ts
 * encodeCopyRow(['id-1', '{"a":"x\\\\y"}']); // 'id-1\t{"a":"x\\\\\\\\y"}\n'
 * ```
 */
export function encodeCopyRow(fields: readonly string[]): string {
  let out = '';
  for (let i = 0; i < fields.length; i += 1) {
    out += (i === 0 ? '' : '\t') + encodeCopyField(fields[i] ?? '');
  }
  return `${out}\n`;
}

const DECODES: Readonly<Record<string, string>> = { '\\': '\\', t: '\t', n: '\n', r: '\r', b: '\b', f: '\f', v: '\v' };

/**
 * Reverses COPY text-format escaping of one field as `COPY … TO STDOUT`
 * writes it (`\\`, `\t`, `\n`, `\r`, `\b`, `\f`, `\v`). COPY TO never
 * writes octal or hex escapes, so none are decoded.
 *
 * @example
 * ```ts
 * decodeCopyField('x\\\\y\\tz'); // 'x\\y\tz'
 * ```
 */
export function decodeCopyField(value: string): string {
  if (!value.includes('\\')) return value;
  return value.replace(/\\(.)/gs, (_m, c: string) => DECODES[c] ?? c);
}
