/**
 * PostgreSQL `COPY … FROM STDIN` text format, done in the library so no
 * external tool (jq, sed) ever sits between a dataset and the table.
 *
 * @module
 */

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
  // JSON lines are full of backslashes but rarely hold a raw tab or CR, so
  // the native string replaceAll does nearly all of the work, and the
  // control characters are looked for in the field as given (escaping adds
  // none): a quarter less time than testing first for anything to escape.
  const escaped = value.includes('\\') ? value.replaceAll('\\', '\\\\') : value;
  return CONTROL.test(value) ? escaped.replace(CONTROLS, (c) => ESCAPED[c] ?? c) : escaped;
}

/** What a batch's scratch buffer starts at, and shrinks back to after a batch of long lines. */
const SCRATCH_BYTES = 256 * 1024;

/**
 * Builds COPY text-format rows straight into UTF-8 bytes, one field at a
 * time, in a scratch buffer reused from batch to batch. Concatenating a
 * batch into one string and encoding that cost the import's main thread
 * about twice as much (the string is a rope that has to be flattened, then
 * encoded, and both are garbage).
 *
 * @example
 * ```ts
 * const text = new CopyTextBuilder();
 * text.row('id-1', '{"a":"x\\y"}');
 * text.take().toString(); // 'id-1\t{"a":"x\\\\y"}\n'
 * ```
 */
export class CopyTextBuilder {
  #buffer = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  #at = 0;

  /** Appends one row of two fields, escaped, tab-separated and ending in a newline. */
  row(first: string, second: string): void {
    this.#field(first, 0x09);
    this.#field(second, 0x0a);
  }

  /** The rows appended since the last call, as a buffer of their own (the scratch buffer is reused). */
  take(): Buffer {
    // Unzeroed: every byte is copied over at once.
    const out = Buffer.allocUnsafe(this.#at);
    this.#buffer.copy(out, 0, 0, this.#at);
    this.#at = 0;
    if (this.#buffer.length > SCRATCH_BYTES) this.#buffer = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    return out;
  }

  #field(value: string, end: number): void {
    const text = encodeCopyField(value);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; one more for the separator.
    const need = this.#at + text.length * 3 + 1;
    if (need > this.#buffer.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(need, this.#buffer.length * 2));
      this.#buffer.copy(bigger, 0, 0, this.#at);
      this.#buffer = bigger;
    }
    this.#at += this.#buffer.write(text, this.#at, 'utf8');
    this.#buffer[this.#at++] = end;
  }
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
