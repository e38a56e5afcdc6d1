/**
 * Which spellings of a CPE name one platform, for telling claims about one
 * product apart from claims about two (internal). Product keys are stored
 * as the document spells them; only their comparison uses this.
 *
 * @module
 */

/** The characters a CPE 2.3 value quotes with `\` (NISTIR 7695 §5.3.2) and a 2.2 URI percent-encodes. */
const PUNCTUATION = /^[!-/:-@[-^`{-~]$/;

/** ASCII letters, digits and `_`, which a CPE value never quotes. */
const PLAIN = /^[a-z0-9_]$/i;

/** A value as NISTIR 7695 §6.2.3 unbinds a formatted string's: `\` quoting every punctuation character, or `undefined` when it holds a wildcard (a pattern, not a name) or cannot be read. */
function fromFormattedString(value: string): string | undefined {
  if (value === '*' || value === '-') return value;
  if (value === '') return undefined;
  let out = '';
  for (let i = 0; i < value.length; i += 1) {
    const c = value[i] as string;
    if (PLAIN.test(c)) out += c;
    else if (c === '\\') {
      const quoted = value[i + 1];
      if (quoted === undefined || !PUNCTUATION.test(quoted)) return undefined;
      out += `\\${quoted}`;
      i += 1;
    } else if (c === '*' || c === '?' || !PUNCTUATION.test(c)) return undefined;
    else out += `\\${c}`;
  }
  return out;
}

/** A value as NISTIR 7695 §6.1.3 decodes a 2.2 URI's: empty is ANY (`*`), `-` is NA; `undefined` when it holds a wildcard or cannot be read. */
function fromUri(value: string): string | undefined {
  if (value === '') return '*';
  if (value === '-') return '-';
  let out = '';
  for (let i = 0; i < value.length; i += 1) {
    const c = value[i] as string;
    if (PLAIN.test(c)) out += c;
    else if (c === '.' || c === '-' || c === '~') out += `\\${c}`;
    else if (c === '%') {
      const hex = value.slice(i + 1, i + 3);
      const decoded = /^[0-9a-f]{2}$/i.test(hex) ? String.fromCharCode(Number.parseInt(hex, 16)) : '';
      // %01 and %02 are the wildcards; `.`, `-` and `_` are never encoded.
      if (!PUNCTUATION.test(decoded) || decoded === '.' || decoded === '-' || decoded === '_') return undefined;
      out += `\\${decoded}`;
      i += 2;
    } else return undefined;
  }
  return out;
}

/**
 * A formatted string (lower case) whose 11 values are each ANY (`*`) or
 * letters, digits, `_`, `.` and `-` alone: most CPEs, read without the
 * character walk of {@link fromFormattedString}, to the same values.
 */
const SIMPLE_FORMATTED = /^cpe:2\.3(?::(?:\*|[a-z0-9_.-]+)){11}$/;

/** A value of a {@link SIMPLE_FORMATTED} string as {@link fromFormattedString} gives it: `.` and `-` quoted, unless the value is NA (`-`). */
const quotedSimple = (value: string): string => (value === '*' || value === '-' ? value : value.replace(/[.-]/g, '\\$&'));

/** The 11 values of a formatted string (`cpe:2.3:…`), split at unquoted colons, or `undefined`. */
function formattedStringValues(cpe: string): (string | undefined)[] | undefined {
  const fields: string[] = [];
  let field = '';
  for (let i = 'cpe:2.3:'.length; i < cpe.length; i += 1) {
    const c = cpe[i] as string;
    if (c === ':') {
      fields.push(field);
      field = '';
    } else {
      field += c;
      if (c === '\\' && i + 1 < cpe.length) {
        field += cpe[i + 1];
        i += 1;
      }
    }
  }
  fields.push(field);
  return fields.length === 11 ? fields.map(fromFormattedString) : undefined;
}

/** The 11 values of a 2.2 URI (`cpe:/…`, at most 7 components, the edition maybe packing 5 with `~`), or `undefined`. */
function uriValues(cpe: string): (string | undefined)[] | undefined {
  const parts = cpe.slice('cpe:/'.length).split(':');
  if (parts.length > 7) return undefined;
  const [part = '', vendor = '', product = '', version = '', update = '', edition = '', language = ''] = parts;
  const packed = edition.startsWith('~') ? edition.slice(1).split('~') : undefined;
  if (packed !== undefined && packed.length !== 5) return undefined;
  const [plain = edition, swEdition = '', targetSw = '', targetHw = '', other = ''] = packed ?? [];
  return [part, vendor, product, version, update, plain, language, swEdition, targetSw, targetHw, other].map(fromUri);
}

/**
 * The CPE `cpe` in one form for every spelling the CPE 2.3 specifications
 * read as one name: a 2.3 formatted string (`cpe:2.3:…`) or a 2.2 URI
 * (`cpe:/…`, as NISTIR 7695 converts it: missing components, packed
 * editions, percent-encoding), any character quoted or not where quoting
 * is optional, in any case (CPE name matching, NISTIR 7696, compares
 * values case-insensitively). Text that is no CPE, one that cannot be read,
 * and a pattern with wildcards (`*` or `?` within a value) are returned as
 * they are.
 */
export function cpeIdentity(cpe: string): string {
  const lower = cpe.toLowerCase();
  if (SIMPLE_FORMATTED.test(lower)) return `cpe:2.3:${lower.slice('cpe:2.3:'.length).split(':').map(quotedSimple).join(':')}`;
  const values = lower.startsWith('cpe:2.3:') ? formattedStringValues(lower) : lower.startsWith('cpe:/') ? uriValues(lower) : undefined;
  if (values === undefined || values.some((v) => v === undefined)) return cpe;
  return `cpe:2.3:${values.join(':')}`;
}
