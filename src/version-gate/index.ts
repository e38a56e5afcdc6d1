/**
 * `@stella/backfill-kit/version-gate`: accept uploads only from recent code.
 *
 * @module
 */
export { VersionGate } from './version-gate.js';
export type { GateWaitOptions } from './version-gate.js';
export type { GateSettings, VersionGateConfig } from './config.js';
export type { Accepted, GateRejection, GateRejectionBody, GateRejectionCode, GateStatus } from './types.js';
export { acceptedCommit } from './accepted-commit.js';
export type { GateMiddleware } from './node-middleware.js';
export type { GateFastifyHook, FastifyLikeReply, FastifyLikeRequest } from './fastify-hook.js';
export { normalizeCommit } from './commit-hash.js';
export { classifyGateResponse } from './classify-gate-response.js';
export type { GateResponseClass, ShipVerdict } from './classify-gate-response.js';
export { shipWithCommit } from './ship-with-commit.js';
export type { ShipOutcome, ShipWithCommitOptions } from './ship-with-commit.js';
export {
  DEFAULT_GATE_GIT,
  DEFAULT_GATE_GIT_TIMEOUT_MS,
  DEFAULT_GATE_HEADER,
  DEFAULT_GATE_TTL_MS,
  DEFAULT_GATE_WINDOW,
  MAX_GATE_WINDOW,
} from './defaults.js';
