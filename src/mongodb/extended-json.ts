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
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import type { Bson } from './bson.js';

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** The range of a JavaScript Date (and so of a `$date` the driver can hold): ±8.64e15 ms. */
const DATE_LIMIT_MS = 8_640_000_000_000_000n;
const INTEGER = /^-?(0|[1-9][0-9]*)$/;

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

class OutOfRange extends Error {
  constructor(
    readonly path: string,
    readonly value: string,
    readonly why: string,
  ) {
    super(`${path}: ${value} ${why}`);
  }
}

/** Whether `text` is an integer within [min, max]; text that is no integer at all is malformed extended JSON. */
function integerIn(text: unknown, min: bigint, max: bigint): boolean {
  if (typeof text !== 'string' || !INTEGER.test(text)) throw new Error(`${JSON.stringify(text)} is not an integer`);
  const n = BigInt(text);
  return n >= min && n <= max;
}

function plainNumber(value: unknown, path: string): unknown {
  if (!(value instanceof JsonNumber)) return value;
  const n = Number(value.text);
  if (!Number.isFinite(n)) throw new OutOfRange(path, value.text, 'is beyond the range of a double');
  return n;
}

/** Checks a `$date` value (ISO text, milliseconds, or `{"$numberLong": …}`) against the range a Date holds. */
function checkDate(value: unknown, path: string): unknown {
  if (typeof value === 'string') {
    if (Number.isNaN(Date.parse(value))) throw new OutOfRange(path, JSON.stringify(value), 'is not a date MongoDB can store');
    return value;
  }
  const millis =
    value instanceof JsonNumber
      ? value.text
      : typeof value === 'object' && value !== null
        ? (value as { $numberLong?: unknown }).$numberLong
        : undefined;
  if (!integerIn(millis, -DATE_LIMIT_MS, DATE_LIMIT_MS))
    throw new OutOfRange(path, String(millis), 'is not a date in the range a Date holds (±8.64e15 ms)');
  return value instanceof JsonNumber ? Number(millis) : value;
}

/**
 * Rewrites the parsed tree into canonical extended JSON: bare numbers get
 * their exact type; `$numberInt`, `$numberLong`, `$numberDouble` and `$date`
 * wrappers are checked (the library would wrap or zero them silently).
 */
function canonical(value: unknown, path: string): unknown {
  if (value instanceof JsonNumber) {
    const t = jsonNumberType(value.text);
    if (!t.ok) throw new OutOfRange(path, value.text, t.why);
    return t.canonical;
  }
  if (Array.isArray(value)) return value.map((v, i) => canonical(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return value;
  const o = value as Record<string, unknown>;
  if ('$numberInt' in o && !integerIn(o.$numberInt, INT32_MIN, INT32_MAX))
    throw new OutOfRange(path, JSON.stringify(o.$numberInt), 'is not a 32-bit integer');
  if ('$numberLong' in o && !integerIn(o.$numberLong, INT64_MIN, INT64_MAX))
    throw new OutOfRange(path, JSON.stringify(o.$numberLong), 'is not a 64-bit integer');
  if ('$numberDouble' in o) {
    const d = o.$numberDouble;
    if (typeof d !== 'string' || d.trim() === '' || Number.isNaN(Number(d)) !== (d === 'NaN'))
      throw new Error(`${JSON.stringify(d)} is not a double`);
    if (!['Infinity', '-Infinity'].includes(d) && !Number.isFinite(Number(d)))
      throw new OutOfRange(path, JSON.stringify(d), 'is beyond the range of a double');
  }
  if ('$date' in o) return { ...o, $date: checkDate(o.$date, path) };
  const wrapper = Object.keys(o).some((k) => k.startsWith('$'));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const at = path === '' ? k : `${path}.${k}`;
    // Inside a type wrapper ($timestamp's t and i, $minKey's 1, …) numbers are plain operands.
    out[k] = wrapper && k !== '$scope' ? plainDeep(v, at) : canonical(v, at);
  }
  return out;
}

function plainDeep(value: unknown, path: string): unknown {
  if (value instanceof JsonNumber) return plainNumber(value, path);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v, i) => plainDeep(v, `${path}[${i}]`));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainDeep(v, `${path}.${k}`)]));
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
  let tree: unknown;
  try {
    tree = JSON.parse(raw, (_key, value: unknown, source?: { source?: string }) =>
      typeof value === 'number' ? new JsonNumber(source?.source ?? String(value)) : value,
    );
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    return err(new BackfillError('RECORD_INVALID', `${where(context)}: not valid JSON (${message}); fix the record.`, { cause, context }));
  }
  try {
    return ok(bson.EJSON.deserialize(canonical(tree, '') as Record<string, unknown>, { relaxed: false }));
  } catch (cause) {
    if (cause instanceof OutOfRange) {
      const field = cause.path === '' ? 'the value' : `field ${cause.path}`;
      return err(
        new BackfillError(
          'NUMBER_OUT_OF_RANGE',
          `${where(context)}: ${field} = ${cause.value} ${cause.why}, so it cannot be stored exactly; fix the value.`,
          {
            cause,
            context: { ...context, field: cause.path },
          },
        ),
      );
    }
    const message = cause instanceof Error ? cause.message : String(cause);
    return err(
      new BackfillError('RECORD_INVALID', `${where(context)}: not valid MongoDB extended JSON (${message}); fix the record.`, {
        cause,
        context,
      }),
    );
  }
}
