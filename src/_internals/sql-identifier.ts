import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';

/**
 * Identifiers from config are validated against a conservative rule and then
 * quoted anyway, so a name can never change the meaning of a statement.
 */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const MAX_IDENTIFIER_BYTES = 63;

/** A validated `schema.table` pair, with both parts quoted for SQL. */
export interface QualifiedName {
  readonly schema: string;
  readonly name: string;
  /** `"schema"."name"`, ready to splice into SQL. */
  readonly sql: string;
}

/** Checks one identifier part. */
export function validateIdentifier(value: string, what = 'identifier'): Result<string, BackfillError> {
  if (typeof value !== 'string' || value.length === 0) {
    return err(new BackfillError('INVALID_IDENTIFIER', `${what} is empty.`));
  }
  if (Buffer.byteLength(value) > MAX_IDENTIFIER_BYTES) {
    return err(
      new BackfillError(
        'INVALID_IDENTIFIER',
        `${what} ${JSON.stringify(value)} is longer than ${MAX_IDENTIFIER_BYTES} bytes; PostgreSQL would truncate it.`,
      ),
    );
  }
  if (!IDENTIFIER.test(value)) {
    return err(
      new BackfillError(
        'INVALID_IDENTIFIER',
        `${what} ${JSON.stringify(value)} is not a plain identifier: use letters, digits, "_" and "$", starting with a letter or "_".`,
      ),
    );
  }
  return ok(value);
}

/** Double-quotes an identifier, doubling any embedded quote (defence in depth). */
export function quoteIdent(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/** Quotes a string literal for SQL (used only for DDL, which takes no parameters). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new TypeError('NUL in SQL literal');
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Parses `table` or `schema.table`, validating both parts.
 *
 * @param defaultSchema - used when `value` has no schema part
 */
export function parseQualifiedName(value: string, defaultSchema = 'public'): Result<QualifiedName, BackfillError> {
  const parts = typeof value === 'string' ? value.split('.') : [];
  if (parts.length < 1 || parts.length > 2) {
    return err(new BackfillError('INVALID_IDENTIFIER', `table name ${JSON.stringify(value)} must be "table" or "schema.table".`));
  }
  const [first, second] = parts as [string, string | undefined];
  const schemaPart = second === undefined ? defaultSchema : first;
  const namePart = second ?? first;
  return validateIdentifier(schemaPart, 'schema name').andThen((schema) =>
    validateIdentifier(namePart, 'table name').map((name) => ({
      schema,
      name,
      sql: `${quoteIdent(schema)}.${quoteIdent(name)}`,
    })),
  );
}
