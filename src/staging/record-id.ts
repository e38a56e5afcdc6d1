/**
 * Where a record's id comes from: `_id` by default, as a string, a number or
 * MongoDB extended JSON `{"$oid": "…"}`, or another top-level field.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { DEFAULT_ID_FIELD } from './defaults.js';

/** Where the record sits, so the error can name it. */
export interface RecordLocation {
  readonly member?: string;
  readonly line?: number;
}

/** Options for {@link extractRecordId}. */
export interface RecordIdOptions extends RecordLocation {
  /**
   * Top-level field holding the id.
   * @defaultValue `DEFAULT_ID_FIELD` (`"_id"`)
   */
  readonly idField?: string;
}

function problem(what: string, where: RecordLocation, idField: string): BackfillError {
  const at = where.member === undefined ? '' : `${where.member}${where.line === undefined ? '' : ` line ${where.line}`}: `;
  return new BackfillError('RECORD_INVALID', `${at}field \`${idField}\` ${what}; set \`idField\` or fix the record.`, {
    context: { ...(where.member === undefined ? {} : { member: where.member }), ...(where.line === undefined ? {} : { line: where.line }) },
  });
}

/**
 * Reads a record's id as text. Strings are used as they are, numbers as
 * JavaScript prints them, `{"$oid": "…"}` as the hex string. Missing, empty,
 * `null`, non-scalar ids and integers past 2^53 (which `JSON.parse` has
 * already rounded) are `RECORD_INVALID`, naming the member and line.
 *
 * @example
 * ```ts
 * extractRecordId({ _id: { $oid: '65a1f0c2e4b0a1b2c3d4e5f6' } }); // ok('65a1f0c2e4b0a1b2c3d4e5f6')
 * extractRecordId({ key: 7 }, { idField: 'key' });                  // ok('7')
 * extractRecordId({}, { member: 'linksets.ndjson', line: 41 });     // err(RECORD_INVALID …line 41…)
 * ```
 */
export function extractRecordId(value: Readonly<Record<string, unknown>>, options: RecordIdOptions = {}): Result<string, BackfillError> {
  const idField = options.idField ?? DEFAULT_ID_FIELD;
  const id = Object.hasOwn(value, idField) ? value[idField] : undefined;
  if (typeof id === 'string') return id.length > 0 ? ok(id) : err(problem('is empty', options, idField));
  if (typeof id === 'number') {
    if (!Number.isFinite(id)) return err(problem('is not a finite number', options, idField));
    if (Number.isInteger(id) && !Number.isSafeInteger(id)) {
      return err(
        problem(`is the integer ${id}, beyond 2^53, which JSON parsing has already rounded; store it as a string`, options, idField),
      );
    }
    return ok(String(id));
  }
  if (id === undefined || id === null) return err(problem(id === null ? 'is null' : 'is missing', options, idField));
  if (typeof id === 'object' && !Array.isArray(id)) {
    const keys = Object.keys(id);
    const oid = (id as { $oid?: unknown }).$oid;
    if (keys.length === 1 && typeof oid === 'string') return oid.length > 0 ? ok(oid) : err(problem('has an empty $oid', options, idField));
  }
  return err(problem('must be a string, a number or {"$oid": "…"}', options, idField));
}
