/**
 * The Fastify adapter of {@link VersionGate}. Typed structurally, so the
 * library does not depend on Fastify.
 *
 * @module
 */
import { rememberAccepted } from './accepted-commit.js';
import { headerValue } from './header-value.js';
import { rejectionHeaders } from './rejection-headers.js';
import type { VersionGate } from './version-gate.js';

/**
 * The part of a Fastify request the hook reads.
 *
 * @example
 * ```ts
 * const request: FastifyLikeRequest = { headers: { 'x-code-commit': commit } };
 * ```
 */
export interface FastifyLikeRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The node:http request, whose `headersDistinct` tells a header sent twice from one with a comma. */
  readonly raw?: { readonly headersDistinct?: Readonly<Record<string, string[] | undefined>> };
}

/**
 * The part of a Fastify reply the hook uses; a real `FastifyReply` fits.
 *
 * @example
 * ```ts
 * const hook = gate.fastifyHook();
 * fastify.addHook('preHandler', (request, reply) => hook(request, reply));
 * ```
 */
export interface FastifyLikeReply {
  /** Sets the status code. */
  code(statusCode: number): FastifyLikeReply;
  /** Sets one response header. */
  header(key: string, value: string): FastifyLikeReply;
  /** Sends the body and ends the response. */
  send(payload?: string): FastifyLikeReply;
}

/**
 * An async Fastify hook (`onRequest` or `preHandler`). It answers rejections
 * itself and returns the reply, as Fastify expects of an async hook that
 * responds early.
 *
 * @example
 * ```ts
 * const hook: GateFastifyHook = gate.fastifyHook();
 * fastify.addHook('onRequest', hook);
 * ```
 */
export type GateFastifyHook = (request: FastifyLikeRequest, reply: FastifyLikeReply) => Promise<FastifyLikeReply | undefined>;

/** Builds the hook behind {@link VersionGate.fastifyHook}, reading `header` (none: the gate is misconfigured and answers 503). @internal */
export function createFastifyHook(gate: VersionGate, header: string | undefined): GateFastifyHook {
  return async (request, reply) => {
    const verdict = await gate.checkAsync(
      header === undefined ? undefined : headerValue(request.headers, request.raw?.headersDistinct, header),
    );
    if (verdict.isOk()) {
      rememberAccepted(request, verdict.value);
      return undefined;
    }
    const rejection = verdict.error;
    reply.code(rejection.status);
    for (const [key, value] of Object.entries(rejectionHeaders(rejection))) reply.header(key, value);
    return reply.send(JSON.stringify(rejection.body));
  };
}
