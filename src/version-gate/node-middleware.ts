/**
 * The node:http / Express adapter of {@link VersionGate}.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rememberAccepted } from './accepted-commit.js';
import { headerValue } from './header-value.js';
import { rejectionHeaders } from './rejection-headers.js';
import type { GateRejection } from './types.js';
import type { VersionGate } from './version-gate.js';

/**
 * A `(req, res, next)` middleware: node:http with an explicit continuation,
 * or Express as it is.
 *
 * @example
 * ```ts
 * const gated: GateMiddleware = gate.middleware();
 * app.put('/episodes/:id', gated, handler); // Express
 * ```
 */
export type GateMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** Builds the middleware behind {@link VersionGate.middleware}, reading `header` (none: the gate is misconfigured and answers 503). @internal */
export function createGateMiddleware(gate: VersionGate, header: string | undefined): GateMiddleware {
  return (req, res, next) => {
    const value = header === undefined ? undefined : headerValue(req.headers, req.headersDistinct, header);
    // Warm path: synchronous, no promise per request.
    const first = gate.check(value);
    if (first.isOk()) {
      rememberAccepted(req, first.value);
      next();
      return;
    }
    if (first.error.status === 400) {
      sendRejection(res, first.error);
      return;
    }
    void gate.checkAsync(value).match(
      (accepted) => {
        rememberAccepted(req, accepted);
        next();
      },
      (rejection) => sendRejection(res, rejection),
    );
  };
}

function sendRejection(res: ServerResponse, rejection: GateRejection): void {
  const json = JSON.stringify(rejection.body);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(rejection.status, { ...rejectionHeaders(rejection), 'content-length': String(Buffer.byteLength(json)) });
  res.end(json);
}
