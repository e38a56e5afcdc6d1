import type { BackfillError } from '../errors.js';

/** A promise that settles once, with its callbacks exposed. Settled-but-unobserved is fine: it never reports as unhandled. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: BackfillError) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: BackfillError) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
