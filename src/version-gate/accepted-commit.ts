/**
 * Where the HTTP adapters leave the verdict for the route handler.
 *
 * @module
 */
import type { Accepted } from './types.js';

// A symbol-keyed property: no per-request bookkeeping beyond one property,
// invisible to JSON and Object.keys, and the same shape change on every request.
const ACCEPTED: unique symbol = Symbol('@stella/backfill-kit/version-gate accepted');

type Carrier = { [ACCEPTED]?: Accepted };

/** Records the verdict on `request` (a node:http/Express request or a Fastify request). @internal */
export function rememberAccepted(request: object, accepted: Accepted): void {
  (request as Carrier)[ACCEPTED] = accepted;
}

/**
 * The verdict the gate's middleware or Fastify hook recorded for this
 * request, so the handler can stamp the normalised commit on what it stores.
 * `undefined` when the request did not pass through a gate.
 *
 * @example
 * ```ts
 * app.put('/upload', gate.middleware(), (req, res) => {
 *   const commit = acceptedCommit(req)?.commit; // lower-case hash
 *   res.status(201).json({ commit });
 * });
 * ```
 */
export function acceptedCommit(request: object): Accepted | undefined {
  return (request as Carrier)[ACCEPTED];
}
