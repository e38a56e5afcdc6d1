/**
 * Records as MongoDB documents: MongoDB extended JSON turned back into BSON
 * types (as mongoimport does), and the record id as the document's `_id`,
 * with `{"$oid": "…"}` restored to an ObjectId.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import type { Bson } from './bson.js';
import { parseExtendedJson } from './extended-json.js';

/** A document on its way into MongoDB. */
export type MongoDocument = Record<string, unknown>;

const OBJECT_ID_HEX = /^[0-9a-fA-F]{24}$/;

/**
 * The text form of a MongoDB `_id`, as `extractRecordId` reads the same
 * value from JSON: strings as they are, numbers as JavaScript prints them,
 * ObjectIds as 24 lowercase hex digits.
 *
 * @example
 * ```ts
 * mongoIdText(new ObjectId('65a1f0c2e4b0a1b2c3d4e5f6')); // '65a1f0c2e4b0a1b2c3d4e5f6'
 * mongoIdText(new Int32(7)); // '7'
 * ```
 */
export function mongoIdText(id: unknown): string | undefined {
  if (typeof id === 'string') return id;
  if (typeof id === 'number') return String(id);
  if (typeof id !== 'object' || id === null) return undefined;
  const v = id as { _bsontype?: unknown; toHexString?: () => string; valueOf(): unknown; toString(): string };
  switch (v._bsontype) {
    case 'ObjectId':
      return v.toHexString?.();
    case 'Int32':
    case 'Double':
      return String(v.valueOf());
    case 'Long':
      return v.toString();
    default:
      return undefined;
  }
}

/**
 * A key equal for two `_id`s exactly when MongoDB's unique `_id` index
 * (simple collation) finds them equal: numbers by value across types
 * (`1`, `Int32(1)`, `Double(1.0)` and `Long(1)` are one key, as are `0`
 * and `-0`), strings by their code units, ObjectIds by their bytes; values
 * of different types never share a key (the number `1`, the string `"1"`
 * and an ObjectId whose hex a string spells are three documents). Unlike
 * {@link mongoIdText}, which is for messages and for the importer's text
 * ids, this is what duplicate checks and lane keys compare.
 *
 * @example
 * ```ts
 * mongoIdKey(1) === mongoIdKey(new Double(1)); // true
 * mongoIdKey(1) === mongoIdKey('1');           // false
 * ```
 */
export function mongoIdKey(id: unknown): string {
  if (typeof id === 'string') return `s:${id}`;
  if (typeof id === 'number') return numberKey(id);
  const v = id as { _bsontype?: unknown; toHexString?: () => string; valueOf(): unknown; toString(): string } | null | undefined;
  switch (v?._bsontype) {
    case 'ObjectId':
      return `o:${v.toHexString?.() ?? ''}`;
    case 'Int32':
    case 'Double':
      return numberKey(Number(v.valueOf()));
    case 'Long':
      return `n:${v.toString()}`;
    default:
      return `x:${typeof id}:${String(id)}`;
  }
}

/** Integers (of any BSON numeric type) by their exact value, other doubles as JavaScript prints them (exactly). */
function numberKey(n: number): string {
  return Number.isInteger(n) ? `n:${BigInt(n).toString()}` : `n:${String(n)}`;
}

function where(context: BackfillErrorContext): string {
  const table = typeof context.table === 'string' ? `${context.table}: ` : '';
  return `${table}record ${JSON.stringify(context.id ?? '?')}`;
}

/**
 * Converts a JSON id value to a MongoDB `_id`: strings and finite numbers
 * stay as they are, `{"$oid": "<24 hex>"}` becomes an ObjectId. Anything else
 * (including an `$oid` that is not 24 hex digits) is `RECORD_INVALID`.
 *
 * @example
 * ```ts
 * toMongoId({ $oid: '65a1f0c2e4b0a1b2c3d4e5f6' }, BSON); // ok(ObjectId('65a1f0c2e4b0a1b2c3d4e5f6'))
 * toMongoId('a-1', BSON); // ok('a-1')
 * toMongoId({ $oid: 'xyz' }, BSON); // err(RECORD_INVALID)
 * ```
 */
export function toMongoId(value: unknown, bson: Bson, context: BackfillErrorContext = {}): Result<unknown, BackfillError> {
  if (typeof value === 'string' && value.length > 0) return ok(value);
  if (typeof value === 'number' && Number.isFinite(value)) return ok(value);
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const oid = (value as { $oid?: unknown }).$oid;
    if (keys.length === 1 && typeof oid === 'string') {
      if (OBJECT_ID_HEX.test(oid)) return ok(bson.ObjectId.createFromHexString(oid.toLowerCase()));
      return err(
        new BackfillError('RECORD_INVALID', `${where(context)}: {"$oid": ${JSON.stringify(oid)}} is not 24 hex digits; fix the id.`, {
          context,
        }),
      );
    }
  }
  return err(
    new BackfillError('RECORD_INVALID', `${where(context)}: the id must be a string, a number or {"$oid": "<24 hex>"}.`, { context }),
  );
}

/**
 * Parses one NDJSON record as MongoDB extended JSON with mongoimport's
 * number rules (see {@link parseExtendedJson}: `$oid`, `$date`,
 * `$numberLong`, … become BSON values; integer literals are int32/int64
 * exactly, literals with a point or exponent doubles; values that cannot be
 * stored exactly are `NUMBER_OUT_OF_RANGE`) and sets `_id` to the record id. When the record's own `_id` reads
 * as `id` (the usual case) its BSON type is kept, so `{"$oid": …}` stays an
 * ObjectId and `7` stays a number; otherwise (a custom `idField`) `_id` is
 * `id` as a string. Malformed extended JSON is `RECORD_INVALID`.
 *
 * @example
 * ```ts
 * const doc = recordToDocument('{"_id":{"$oid":"65a1f0c2e4b0a1b2c3d4e5f6"},"n":1}', '65a1f0c2e4b0a1b2c3d4e5f6', BSON);
 * // ok({ _id: ObjectId('65a1…'), n: Int32(1) })
 * ```
 */
export function recordToDocument(
  raw: string,
  id: string,
  bson: Bson,
  context: BackfillErrorContext = {},
): Result<MongoDocument, BackfillError> {
  const ctx = { ...context, id };
  return parseExtendedJson(raw, bson, ctx).andThen((parsed) => {
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return err(new BackfillError('RECORD_NOT_OBJECT', `${where(ctx)}: the line is not a JSON object.`, { context: ctx }));
    return ok(withRecordId(parsed as MongoDocument, id));
  });
}

/** `record` with `id` as its `_id`, unless its own `_id` already reads as `id`. */
function withRecordId(record: MongoDocument, id: string): MongoDocument {
  const own: unknown = Object.hasOwn(record, '_id') ? record._id : undefined;
  const ownText = mongoIdText(own);
  // An ObjectId's hex is read case-insensitively, as {"$oid"} accepts both cases.
  if (
    ownText !== undefined &&
    (ownText === id || ((own as { _bsontype?: unknown })._bsontype === 'ObjectId' && ownText === id.toLowerCase()))
  )
    return record;
  // `_id` first, as the server would store it.
  const { _id: _replaced, ...rest } = record;
  return { _id: id, ...rest };
}
