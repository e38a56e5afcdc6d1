/**
 * Where the HTTP adapters leave the verdict for the route handler.
 *
 * @module
 */
import type { Accepted } from './types.js';

const acceptedByRequest = new WeakMap<object, Accepted>();

/** Records the verdict for `request` (a node:http/Express request or a Fastify request). @internal */
export function rememberAccepted(request: object, accepted: Accepted): void {
  acceptedByRequest.set(request, accepted);
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
  return acceptedByRequest.get(request);
}
