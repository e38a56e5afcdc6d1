/**
 * The commit header's value as a request carried it.
 *
 * @module
 * @internal
 */

/** A header record as node:http gives it: one value per name, several joined. */
type HeaderRecord = Readonly<Record<string, string | string[] | undefined>>;

/** Each header's values as sent (node:http's `headersDistinct`, 18.3 and later). */
export type DistinctHeaders = Readonly<Record<string, string[] | undefined>>;

/**
 * The `name` header of `headers`, except that a header sent several times,
 * which node:http joins into one value (`<hash>, <hash>`), comes as its
 * values from `distinct`, so the gate answers that it was sent more than
 * once rather than that it is not hex. A commit hash holds no comma, so
 * only a value with one is looked at again.
 */
export function headerValue(headers: HeaderRecord, distinct: DistinctHeaders | undefined, name: string): unknown {
  const value = headers[name];
  return typeof value === 'string' && value.includes(',') ? (distinct?.[name] ?? value) : value;
}
