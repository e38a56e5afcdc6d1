/**
 * JSON the way Python's `json` module writes and reads it, so rows written
 * here and by the runbook's `index_backfill.py` look the same in the file.
 *
 * @module
 * @internal
 */
import { err, ok, type Result } from 'neverthrow';

/**
 * Compares two strings by Unicode code point, like Python's `sorted()` on
 * `str` (JavaScript's default sort compares UTF-16 code units instead, which
 * puts astral characters before U+E000–U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}

const PLAIN_ASCII = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;
const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  34: '\\"',
  92: '\\\\',
  10: '\\n',
  13: '\\r',
  9: '\\t',
  8: '\\b',
  12: '\\f',
};

/** `json.dumps(s)` with the default `ensure_ascii=True`: everything outside space..`~` is `\uXXXX`. */
function dumpString(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/**
 * Python's `repr(float)`: the shortest round-tripping digits, fixed notation
 * for exponents in [-4, 16), otherwise `d.ddde+XX`. JavaScript cannot tell
 * `1` from `1.0`, so a number is written the way Python prints what it
 * reads from `JSON.stringify`'s text: integral values below 1e21 (plain
 * digits there) as an `int`, everything else as a float.
 */
function dumpNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  const [mantissa = '', exponent = '0'] = x.toExponential().split('e');
  const exp = Number(exponent);
  const sign = x < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const whole = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    return `${sign}${whole}.${digits.slice(exp + 1) || '0'}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${head}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/**
 * `json.dumps(value, sort_keys=True)`: keys in code-point order, `", "` and
 * `": "` separators, ASCII-only output. Object properties whose value is
 * `undefined` are left out, as `JSON.stringify` does.
 */
export function pythonJsonDumps(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return dumpString(value);
    case 'number':
      return dumpNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => pythonJsonDumps(v ?? null)).join(', ')}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      entries.sort(([a], [b]) => compareCodePoints(a, b));
      return `{${entries.map(([k, v]) => `${dumpString(k)}: ${pythonJsonDumps(v)}`).join(', ')}}`;
    }
    default:
      throw new TypeError(`Object of type ${typeof value} is not JSON serializable`);
  }
}

/** Replaces the bare `NaN`, `Infinity` and `-Infinity` tokens Python accepts (outside strings) with `null`. */
function withoutNonFiniteTokens(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith('-Infinity', i)) {
      out += 'null';
      i += 9;
    } else if (text.startsWith('Infinity', i)) {
      out += 'null';
      i += 8;
    } else if (text.startsWith('NaN', i)) {
      out += 'null';
      i += 3;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

/**
 * `json.loads(text)` as far as the index and `meta.json` need: standard JSON
 * plus the `NaN` / `Infinity` / `-Infinity` literals Python accepts (read as
 * `null` here). A leading byte-order mark is an error, as in Python.
 */
export function parsePythonJson(text: string): Result<unknown, SyntaxError> {
  try {
    return ok(JSON.parse(text) as unknown);
  } catch (first) {
    if (!/NaN|Infinity/.test(text)) return err(first as SyntaxError);
    try {
      return ok(JSON.parse(withoutNonFiniteTokens(text)) as unknown);
    } catch {
      return err(first as SyntaxError);
    }
  }
}
