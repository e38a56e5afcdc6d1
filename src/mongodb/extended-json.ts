/**
 * MongoDB extended JSON read the way mongoimport reads it, number by number
 * from the literal text: a literal with a decimal point or an exponent is a
 * double, an integer literal is an int32 when it fits and an int64 when it
 * does not; nothing is rounded, wrapped or turned into Infinity or 1970.
 * A value that cannot be stored exactly is refused (`NUMBER_OUT_OF_RANGE`,
 * naming the field and, through the caller's context, the line).
 *
 * @module
 */
import { err, ok, Result } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { readInstant } from '../_internals/instant.js';
import type { Bson } from './bson.js';

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT32_MAX = 2 ** 32 - 1;
/** The range of a JavaScript Date (and so of a `$date` the driver can hold): ±8.64e15 ms. */
const DATE_LIMIT_MS = 8_640_000_000_000_000n;
const INTEGER = /^-?(0|[1-9][0-9]*)$/;
/** The text of a `$numberDouble` that is a decimal number (sign, digits, point, exponent; no blanks, no 0x/0o/0b). */
const DOUBLE_TEXT = /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/;
/**
 * Deprecated BSON types the driver's BSON library has no type for: it reads
 * their wrappers as another type (a DBPointer as a DBRef, an embedded
 * document of type 0x03 not 0x0C; undefined as null, 0x0A not 0x06).
 */
const UNWRITABLE: ReadonlyMap<string, string> = new Map([
  [
    '$dbPointer',
    'a DBPointer (BSON type 0x0C, deprecated), which the driver cannot write (it would store an embedded DBRef document instead); give a DBRef as {"$ref": …, "$id": …} if that is meant',
  ],
  [
    '$undefined',
    'undefined (BSON type 0x06, deprecated), which the driver cannot write (it would store null instead); give null if that is meant',
  ],
]);
/** A binary subtype as Extended JSON writes it: one or two hex digits. */
const BINARY_SUBTYPE = /^[0-9a-fA-F]{1,2}$/;
/** The other texts of a `$numberDouble` the Extended JSON spec defines. */
const DOUBLE_WORDS: readonly string[] = ['Infinity', '-Infinity', 'NaN'];
/**
 * The keys that make an object one extended JSON value, with the keys that
 * may stand beside each (legacy `$binary`/`$type`, `$regex`/`$options`,
 * `$code`/`$scope`). Any other key beside them would be dropped by the EJSON
 * parser, which reads only the wrapper.
 */
const WRAPPER_COMPANIONS: ReadonlyMap<string, readonly string[]> = new Map([
  ['$oid', []],
  ['$binary', ['$type']],
  ['$uuid', []],
  ['$symbol', []],
  ['$numberInt', []],
  ['$numberLong', []],
  ['$numberDouble', []],
  ['$numberDecimal', []],
  ['$minKey', []],
  ['$maxKey', []],
  ['$regex', ['$options']],
  ['$regularExpression', []],
  ['$timestamp', []],
  ['$date', []],
  ['$code', ['$scope']],
  ['$dbPointer', []],
  ['$undefined', []],
]);
const DATE_TEXT_RULE =
  'is not an ISO-8601 date and time in the years 0001 to 9999 (UTC unless it has an offset); give other instants as {"$numberLong": "<ms since 1970>"}';

/** How a JSON number literal is stored: its canonical extended-JSON form, or why it cannot be. */
export type JsonNumberType =
  | { readonly ok: true; readonly canonical: Readonly<Record<string, string>> }
  | { readonly ok: false; readonly why: string };

/**
 * The BSON type of a JSON number literal, by mongoimport's rule: a decimal
 * point or an exponent makes a double (refused when it overflows to
 * infinity); an integer is an int32 if it fits, else an int64 if it fits,
 * else refused.
 *
 * @example
 * ```ts
 * jsonNumberType('7');                   // { ok: true, canonical: { $numberInt: '7' } }
 * jsonNumberType('7.0');                 // { ok: true, canonical: { $numberDouble: '7.0' } }
 * jsonNumberType('9007199254740993');    // { ok: true, canonical: { $numberLong: '9007199254740993' } }
 * jsonNumberType('1e400').ok;            // false
 * ```
 */
export function jsonNumberType(text: string): JsonNumberType {
  if (/[.eE]/.test(text)) {
    return Number.isFinite(Number(text))
      ? { ok: true, canonical: { $numberDouble: text } }
      : { ok: false, why: 'is beyond the range of a double' };
  }
  const n = BigInt(text);
  if (n >= INT32_MIN && n <= INT32_MAX) return { ok: true, canonical: { $numberInt: text } };
  if (n >= INT64_MIN && n <= INT64_MAX) return { ok: true, canonical: { $numberLong: text } };
  return { ok: false, why: 'is beyond the range of a 64-bit integer' };
}

/** A number as it appeared in the text (JSON.parse hands the source to the reviver). */
class JsonNumber {
  constructor(readonly text: string) {}
}

/** Why a parsed tree cannot be stored: a value out of range at `path`, or malformed extended JSON. */
type Problem =
  | { readonly kind: 'range'; readonly path: string; readonly value: string; readonly why: string }
  | { readonly kind: 'malformed'; readonly message: string };

/**
 * Rewrites a parsed tree into canonical extended JSON: bare numbers get
 * their exact type; `$numberInt`, `$numberLong`, `$numberDouble`, `$date`
 * and `$timestamp` wrappers are checked and `$dbPointer` and `$undefined`
 * refused (the library would wrap, zero or retype them silently); legacy
 * `$binary`/`$type` takes its v2 form. The first problem found is kept in `problem` and ends the rewrite's meaning:
 * every record's every node passes here, so no node allocates a Result.
 */
class Canonicalizer {
  problem: Problem | undefined;

  #range(path: string, value: string, why: string): undefined {
    this.problem ??= { kind: 'range', path, value, why };
    return undefined;
  }

  /** Whether `text` is an integer within [min, max]; text that is no integer at all is malformed extended JSON. */
  #integerIn(text: unknown, min: bigint, max: bigint): boolean {
    if (typeof text !== 'string' || !INTEGER.test(text)) {
      this.problem ??= { kind: 'malformed', message: `${JSON.stringify(text)} is not an integer` };
      return true; // reported as malformed, not as out of range
    }
    const n = BigInt(text);
    return n >= min && n <= max;
  }

  #plainNumber(value: JsonNumber, path: string): number | undefined {
    const n = Number(value.text);
    return Number.isFinite(n) ? n : this.#range(path, value.text, 'is beyond the range of a double');
  }

  /** Checks a `$date` value (ISO text, milliseconds, or `{"$numberLong": …}`) against the range a Date holds. */
  #date(value: unknown, path: string): unknown {
    // Read here, not by the EJSON parser's Date.parse, which reads a time without an offset in the host's time zone and guesses at other text.
    if (typeof value === 'string') {
      const instant = readInstant(value);
      return instant.isOk() ? { $numberLong: String(instant.value.epochMs) } : this.#range(path, JSON.stringify(value), DATE_TEXT_RULE);
    }
    const millis =
      value instanceof JsonNumber
        ? value.text
        : typeof value === 'object' && value !== null
          ? (value as { $numberLong?: unknown }).$numberLong
          : undefined;
    if (!this.#integerIn(millis, -DATE_LIMIT_MS, DATE_LIMIT_MS))
      return this.#range(path, String(millis), 'is not a date in the range a Date holds (±8.64e15 ms)');
    return value instanceof JsonNumber ? Number(millis) : value;
  }

  /** A type wrapper must be alone in its object (with its companions): the EJSON parser would drop any other field. */
  #alone(o: Readonly<Record<string, unknown>>, keys: readonly string[], path: string): void {
    // A wrapper key whose value is null is no wrapper to the EJSON parser: the object stays a document, every field kept.
    const wrapper = keys.find((k) => WRAPPER_COMPANIONS.has(k) && o[k] !== null);
    if (wrapper === undefined) return;
    const allowed = WRAPPER_COMPANIONS.get(wrapper)!;
    const stray = keys.find((k) => k !== wrapper && !allowed.includes(k));
    if (stray === undefined) return;
    const field = path === '' ? 'the record' : `field ${path}`;
    this.problem ??= {
      kind: 'malformed',
      message: `${field}: {"${wrapper}": …} is one extended JSON value and cannot share its object with ${JSON.stringify(stray)}, which would be dropped; move that field out`,
    };
  }

  #wrappers(o: Readonly<Record<string, unknown>>, path: string): void {
    if ('$numberInt' in o && !this.#integerIn(o.$numberInt, INT32_MIN, INT32_MAX))
      this.#range(path, JSON.stringify(o.$numberInt), 'is not a 32-bit integer');
    if ('$numberLong' in o && !this.#integerIn(o.$numberLong, INT64_MIN, INT64_MAX))
      this.#range(path, JSON.stringify(o.$numberLong), 'is not a 64-bit integer');
    if ('$numberDouble' in o) {
      // The EJSON parser reads the text with parseFloat, which takes "0x10" as 0 and skips blanks: only the spec's forms pass.
      const d = o.$numberDouble;
      const decimal = typeof d === 'string' && DOUBLE_TEXT.test(d);
      if (!decimal && !(typeof d === 'string' && DOUBLE_WORDS.includes(d)))
        this.problem ??= {
          kind: 'malformed',
          message: `${JSON.stringify(d)} is not a double (a decimal number, "Infinity", "-Infinity" or "NaN")`,
        };
      else if (decimal && !Number.isFinite(Number(d))) this.#range(path, JSON.stringify(d), 'is beyond the range of a double');
    }
    if ('$timestamp' in o) this.#timestamp(o.$timestamp, path);
    for (const [key, what] of UNWRITABLE) {
      if (key in o && o[key] !== null)
        this.problem ??= {
          kind: 'malformed',
          message: `${path === '' ? 'the record' : `field ${path}`}: {"${key}": …} is ${what}`,
        };
    }
  }

  /** `t` and `i` of a `$timestamp` are unsigned 32-bit: the BSON library would store a larger one modulo 2^32. */
  #timestamp(value: unknown, path: string): void {
    if (typeof value !== 'object' || value === null) return;
    for (const part of ['t', 'i'] as const) {
      const n = (value as Record<string, unknown>)[part];
      if (n instanceof JsonNumber && Number(n.text) > UINT32_MAX)
        this.#range(`${path}.${part}`, n.text, 'is beyond the range of a timestamp part (an unsigned 32-bit integer)');
    }
  }

  canonical(value: unknown, path: string): unknown {
    if (value instanceof JsonNumber) {
      const t = jsonNumberType(value.text);
      return t.ok ? t.canonical : this.#range(path, value.text, t.why);
    }
    if (Array.isArray(value)) return value.map((v, i) => this.canonical(v, `${path}[${i}]`));
    if (typeof value !== 'object' || value === null) return value;
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    const wrapper = keys.some((k) => k.startsWith('$'));
    if (wrapper) {
      this.#alone(o, keys, path);
      this.#wrappers(o, path);
      if ('$date' in o) return { ...o, $date: this.#date(o.$date, path) };
      if (typeof o.$binary === 'string' && '$type' in o) return this.#legacyBinary(o.$binary, o.$type, path);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      const at = path === '' ? k : `${path}.${k}`;
      // Inside a type wrapper ($timestamp's t and i, $minKey's 1, …) numbers are plain operands.
      const value = wrapper && k !== '$scope' ? this.#plainDeep(v, at) : this.canonical(v, at);
      // `out.__proto__ = …` would set the prototype and drop the field: a JSON "__proto__" key is a field like any other.
      if (k === '__proto__') Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
      else out[k] = value;
    }
    return out;
  }

  /** `{"$binary": "<base64>", "$type": "<hex>"}` (Extended JSON v1, which the EJSON parser refuses) in its v2 form. */
  #legacyBinary(base64: string, type: unknown, path: string): unknown {
    if (typeof type !== 'string' || !BINARY_SUBTYPE.test(type))
      this.problem ??= {
        kind: 'malformed',
        message: `${path === '' ? 'the record' : `field ${path}`}: {"$binary": …, "$type": ${JSON.stringify(type)}}: $type is not a subtype of one or two hex digits`,
      };
    return { $binary: { base64, subType: type } };
  }

  #plainDeep(value: unknown, path: string): unknown {
    if (value instanceof JsonNumber) return this.#plainNumber(value, path);
    if (typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) return value.map((v, i) => this.#plainDeep(v, `${path}[${i}]`));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.#plainDeep(v, `${path}.${k}`)]));
  }
}

function where(context: BackfillErrorContext): string {
  const at = [
    typeof context.table === 'string' ? context.table : undefined,
    typeof context.line === 'number' ? `line ${context.line}` : undefined,
  ]
    .filter((x) => x !== undefined)
    .join(', ');
  return `${at === '' ? '' : `${at}: `}record ${JSON.stringify(context.id ?? '?')}`;
}

/**
 * Parses one NDJSON line as MongoDB extended JSON with mongoimport's number
 * rules (see {@link jsonNumberType}). Malformed JSON or extended JSON is
 * `RECORD_INVALID`; a number, `$numberInt`, `$numberLong`, `$numberDouble`
 * or `$date` that cannot be stored exactly is `NUMBER_OUT_OF_RANGE` naming
 * the field (and the line, from `context`).
 *
 * @example
 * ```ts
 * parseExtendedJson('{"n":9007199254740993,"d":7.0}', BSON);
 * // ok({ n: Long('9007199254740993'), d: Double(7) })
 * ```
 */
export function parseExtendedJson(raw: string, bson: Bson, context: BackfillErrorContext = {}): Result<unknown, BackfillError> {
  const invalidRecord = (what: string) => (cause: unknown) =>
    new BackfillError('RECORD_INVALID', `${where(context)}: not valid ${what} (${messageOf(cause)}); fix the record.`, { cause, context });
  const parse = Result.fromThrowable(
    (text: string): unknown =>
      JSON.parse(text, (_key, value: unknown, source?: { source?: string }) =>
        typeof value === 'number' ? new JsonNumber(source?.source ?? String(value)) : value,
      ),
    invalidRecord('JSON'),
  );
  const deserialize = Result.fromThrowable(
    (tree: unknown): unknown => bson.EJSON.deserialize(tree as Record<string, unknown>, { relaxed: false }),
    invalidRecord('MongoDB extended JSON'),
  );
  return parse(raw)
    .andThen((tree) => {
      const rewriter = new Canonicalizer();
      const canonical = rewriter.canonical(tree, '');
      const problem = rewriter.problem;
      if (problem === undefined) return ok(canonical);
      if (problem.kind === 'malformed') return err(invalidRecord('MongoDB extended JSON')(new Error(problem.message)));
      const field = problem.path === '' ? 'the value' : `field ${problem.path}`;
      return err(
        new BackfillError(
          'NUMBER_OUT_OF_RANGE',
          `${where(context)}: ${field} = ${problem.value} ${problem.why}, so it cannot be stored exactly; fix the value.`,
          { context: { ...context, field: problem.path } },
        ),
      );
    })
    .andThen(deserialize);
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
