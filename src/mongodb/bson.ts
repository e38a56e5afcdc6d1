/**
 * Loads the driver's BSON library on first use. `mongodb` is an optional
 * peer dependency: only code that talks to MongoDB imports it, and only
 * here, dynamically, so the rest of the library never requires it.
 *
 * @module
 */
import type { BSON } from 'mongodb';
import { ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';

/** The `BSON` namespace the `mongodb` driver re-exports (ObjectId, EJSON, calculateObjectSize …). */
export type Bson = typeof BSON;

let loaded: Promise<Bson> | undefined;

/**
 * The driver's BSON library, or `INVALID_ARGUMENT` telling the caller to
 * install `mongodb` (v6 or v7) when it is missing.
 *
 * @example
 * ```ts
 * const bson = await loadBson();
 * if (bson.isOk()) console.log(bson.value.calculateObjectSize({ a: 1 })); // 12
 * ```
 */
export function loadBson(): ResultAsync<Bson, BackfillError> {
  loaded ??= import('mongodb').then((m) => m.BSON);
  return ResultAsync.fromPromise(loaded, (cause) => {
    loaded = undefined;
    return new BackfillError('INVALID_ARGUMENT', 'The MongoDB adapters need the `mongodb` package (v6 or v7): run `npm install mongodb`.', { cause });
  });
}
