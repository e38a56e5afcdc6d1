/**
 * How a shipper should treat a receiver's answer.
 *
 * @module
 */

/**
 * `ok`: stored. `fatal`: don't retry until the host is fixed. `retry`: try again later.
 *
 * @example
 * ```ts
 * const verdict: ShipVerdict = classifyGateResponse(412).verdict; // 'fatal'
 * ```
 */
export type ShipVerdict = 'ok' | 'fatal' | 'retry';

/**
 * The classification of one response.
 *
 * @example
 * ```ts
 * const c: GateResponseClass = classifyGateResponse(res.status, await res.text());
 * if (c.remediation !== null) logger.error(c.remediation);
 * ```
 */
export interface GateResponseClass {
  readonly verdict: ShipVerdict;
  /** The HTTP status, or 0 when no response arrived. */
  readonly status: number;
  /** The gate's error code (`COMMIT_NOT_RECENT`, …) when the body carried one. */
  readonly code: string | null;
  readonly message: string | null;
  /** Shell lines to paste on this host, when the receiver sent them. Log them at error level. */
  readonly remediation: string | null;
  readonly yourCommit: string | null;
  readonly headCommit: string | null;
}

/**
 * Classifies a receiver's response for a shipper: 2xx is `ok`; 400 and 412
 * (and any other 4xx) are `fatal`, so the queue does not retry forever;
 * 503, other 5xx, 408, 425 and 429 are `retry`. `body` may be the parsed
 * JSON or its text; the gate's `remediation`, `your_commit` and
 * `head_commit` are picked out of it.
 *
 * @example
 * ```ts
 * const res = await fetch(url, { method: 'PUT', headers: { 'x-code-commit': commit }, body });
 * const c = classifyGateResponse(res.status, await res.text());
 * if (c.verdict === 'fatal' && c.remediation) logger.error(`run on this host:\n${c.remediation}`);
 * ```
 */
export function classifyGateResponse(status: number, body?: unknown): GateResponseClass {
  const fields = bodyFields(body);
  return {
    verdict: verdictFor(status),
    status,
    code: fields.code,
    message: fields.message,
    remediation: fields.remediation,
    yourCommit: fields.your_commit,
    headCommit: fields.head_commit,
  };
}

function verdictFor(status: number): ShipVerdict {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 500 || status === 408 || status === 425 || status === 429 || status === 0) return 'retry';
  return 'fatal';
}

type BodyFields = Record<'code' | 'message' | 'remediation' | 'your_commit' | 'head_commit', string | null>;

function bodyFields(body: unknown): BodyFields {
  let value = body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    try {
      value = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
    } catch {
      value = undefined;
    }
  }
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const pick = (key: string): string | null => (typeof record[key] === 'string' ? (record[key] as string) : null);
  return {
    code: pick('code'),
    message: pick('message'),
    remediation: pick('remediation'),
    your_commit: pick('your_commit'),
    head_commit: pick('head_commit'),
  };
}
