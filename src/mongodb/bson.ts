/**
 * Loads the driver's BSON library on first use. `mongodb` is an optional
 * peer dependency: only code that talks to MongoDB imports it, and only
 * here, dynamically, so the rest of the library never requires it.
 *
 * @module
 */
import type { BSON, Document } from 'mongodb';
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
    return new BackfillError('INVALID_ARGUMENT', 'The MongoDB adapters need the `mongodb` package (v6 or v7): run `npm install mongodb`.', {
      cause,
    });
  });
}

/**
 * The driver's own builder of an update statement (`{ q, u, upsert, … }`),
 * the unit whose size the driver checks against `maxBsonObjectSize` in a
 * bulk write.
 */
export type UpdateStatementMaker = (
  filter: Document,
  update: Document,
  options: { readonly upsert?: boolean; readonly multi?: boolean },
) => Document;

/** The driver module that builds update statements (no public export; loaded by path). */
const UPDATE_MODULE = 'mongodb/lib/operations/update.js';

let statementMaker: Promise<UpdateStatementMaker> | undefined;

/**
 * The driver's `makeUpdateStatement`, so a `replaceOne … upsert` is measured
 * exactly as the driver measures it before sending, or `INVALID_ARGUMENT`
 * when this driver version does not have it.
 *
 * @example
 * ```ts
 * const result = await loadUpdateStatement();
 * if (result.isErr()) throw result.error;
 * const make = result.value;
 * make({ _id: 'a' }, { _id: 'a', n: 1 }, { upsert: true }); // { q: { _id: 'a' }, u: { _id: 'a', n: 1 }, upsert: true }
 * ```
 */
export function loadUpdateStatement(): ResultAsync<UpdateStatementMaker, BackfillError> {
  statementMaker ??= (import(UPDATE_MODULE) as Promise<{ makeUpdateStatement?: unknown }>).then((m) => {
    if (typeof m.makeUpdateStatement !== 'function') throw new Error('makeUpdateStatement is missing');
    return m.makeUpdateStatement as UpdateStatementMaker;
  });
  return ResultAsync.fromPromise(statementMaker, (cause) => {
    statementMaker = undefined;
    return new BackfillError(
      'INVALID_ARGUMENT',
      'This version of the `mongodb` driver has no `makeUpdateStatement`; install mongodb v6 or v7.',
      { cause },
    );
  });
}
