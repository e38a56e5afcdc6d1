/**
 * The response headers every {@link GateRejection} carries, whatever the framework.
 *
 * @module
 * @internal
 */
import type { GateRejection } from './types.js';

/** The headers every rejection carries, for any HTTP framework. @internal */
export function rejectionHeaders(rejection: GateRejection): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  };
  if (rejection.body.retry_after_s !== undefined) headers['retry-after'] = String(rejection.body.retry_after_s);
  return headers;
}
