/**
 * Small field readers shared by the normalizers (internal, not exported from
 * the package).
 */
import { BackfillError } from '../../errors.js';

/** A plain JSON object. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** True for a non-null, non-array object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value when it is a non-empty string (after trimming), else `undefined`. */
export function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 ? trimmed : undefined;
}

/** The value as an array, `[]` when absent; `undefined` when present but not an array. */
export function optionalArray(value: unknown): readonly unknown[] | undefined {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : undefined;
}

/** A `DOCUMENT_INVALID` error that names the document and the field. */
export function invalidDocument(format: string, digest: string, where: string, problem: string): BackfillError {
  return new BackfillError('DOCUMENT_INVALID', `${format} document ${digest}: ${where} ${problem}`, {
    context: { digest, field: where, format },
  });
}

/** Normalizes a timestamp to ISO-8601 UTC, or `undefined` when it does not parse. */
export function isoTimestamp(value: unknown): string | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const ms = Date.parse(raw);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}
