/**
 * The shipper's side of the gate: send an upload with its commit header and
 * classify the answer.
 *
 * @module
 */
import { err, ok, type Result, ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { silentLogger } from '../_internals/logger.js';
import { classifyGateResponse, type GateResponseClass } from './classify-gate-response.js';
import { normalizeCommit } from './commit-hash.js';
import { DEFAULT_GATE_HEADER } from './defaults.js';

/**
 * What {@link shipWithCommit} sends.
 *
 * @example
 * ```ts
 * const options: ShipWithCommitOptions = { url: 'http://receiver:8080/episodes/h1/e1', commit, body: createReadStream(tarball) };
 * ```
 */
export interface ShipWithCommitOptions {
  readonly url: string | URL;
  /** The full commit of the code that produced the upload (`git rev-parse HEAD`). */
  readonly commit: string;
  /** The upload. An async iterable is streamed. */
  readonly body?: string | Uint8Array | AsyncIterable<Uint8Array>;
  /** @defaultValue `'PUT'` */
  readonly method?: string;
  /** @defaultValue {@link DEFAULT_GATE_HEADER} (`x-code-commit`) */
  readonly header?: string;
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** Fatal answers with a remediation are logged at error level here. */
  readonly logger?: Logger;
  /** @defaultValue the global `fetch` */
  readonly fetch?: typeof fetch;
}

/**
 * A classified answer, with the response text.
 *
 * @example
 * ```ts
 * const result = await shipWithCommit(options);
 * if (result.isErr()) throw result.error;
 * const outcome: ShipOutcome = result.value;
 * console.log(outcome.verdict, outcome.responseText);
 * ```
 */
export interface ShipOutcome extends GateResponseClass {
  readonly responseText: string;
}

/**
 * Sends an upload with its commit header and classifies the answer (see
 * {@link classifyGateResponse}). A network failure is a `retry` outcome with
 * status 0, not an error; errors are only a malformed commit (nothing is
 * sent) and `ABORTED`. On a fatal answer with a remediation, the remediation
 * is logged at error level, so the host's journal shows what to run.
 *
 * @example
 * ```ts
 * const r = await shipWithCommit({ url: `${receiver}/episodes/${id}`, commit, body: tarball, logger: console });
 * if (r.isOk() && r.value.verdict === 'fatal') queue.markFatal(id); // 412: don't retry
 * if (r.isOk() && r.value.verdict === 'retry') queue.retryLater(id);
 * ```
 */
export function shipWithCommit(options: ShipWithCommitOptions): ResultAsync<ShipOutcome, BackfillError> {
  return normalizeCommit(options.commit)
    .andThen((commit) => requestHeaders(commit, options).map((headers) => ({ commit, headers })))
    .asyncAndThen(({ commit, headers }) => ship(commit, headers, options));
}

const invalidSetting = (message: string, cause?: unknown): BackfillError =>
  new BackfillError('INVALID_ARGUMENT', `${message} No upload can succeed with it, so it is not retried.`, { cause });

/**
 * Checks what no retry can fix before sending: the URL is an absolute
 * http(s) URL and every header is one fetch will send. fetch rejects them
 * the way it rejects a network failure, which a shipper retries for ever.
 */
function requestHeaders(commit: string, options: ShipWithCommitOptions): Result<Headers, BackfillError> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (e) {
    return err(invalidSetting(`url ${JSON.stringify(String(options.url))} is not an absolute http:// or https:// URL.`, e));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return err(invalidSetting(`url ${JSON.stringify(url.href)} is not an http:// or https:// URL.`));
  try {
    return ok(new Headers({ ...options.headers, [options.header ?? DEFAULT_GATE_HEADER]: commit }));
  } catch (e) {
    return err(invalidSetting(`A request header is not valid (${e instanceof Error ? e.message : String(e)}).`, e));
  }
}

/** Sends the upload with the normalised `commit` in `headers`, logs a fatal or retryable answer, and classifies it. */
function ship(commit: string, headers: Headers, options: ShipWithCommitOptions): ResultAsync<ShipOutcome, BackfillError> {
  const logger = options.logger ?? silentLogger;
  const doFetch = options.fetch ?? fetch;
  const body = options.body;
  const init: RequestInit & { duplex?: 'half' } = {
    method: options.method ?? 'PUT',
    headers,
    ...(body === undefined ? {} : { body: body as NonNullable<RequestInit['body']> }),
    ...(body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array) ? { duplex: 'half' as const } : {}),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const exchange = async (): Promise<ShipOutcome> => {
    let response: Response;
    try {
      response = await doFetch(options.url, init);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const message =
        error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error);
      logger.warn(`upload did not reach the receiver; will retry: ${message}`, { url: String(options.url) });
      return { ...classifyGateResponse(0), message, responseText: '' };
    }
    const responseText = await response.text();
    const outcome: ShipOutcome = { ...classifyGateResponse(response.status, responseText), responseText };
    const fields = {
      status: outcome.status,
      code: outcome.code,
      your_commit: outcome.yourCommit ?? commit,
      head_commit: outcome.headCommit,
    };
    if (outcome.verdict === 'fatal') {
      const what = `upload refused by the receiver (${outcome.status}${outcome.code === null ? '' : ` ${outcome.code}`}); it will not be retried`;
      logger.error(
        outcome.remediation === null ? `${what}.` : `${what}. Run on this host, then ship again:\n${outcome.remediation}`,
        fields,
      );
    } else if (outcome.verdict === 'retry') {
      logger.warn(`receiver answered ${outcome.status}; will retry`, fields);
    }
    return outcome;
  };
  return ResultAsync.fromPromise(exchange(), (error) =>
    options.signal?.aborted
      ? new BackfillError('ABORTED', 'The upload was aborted.', { cause: error })
      : new BackfillError('IO_ERROR', `Reading the receiver's answer failed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        }),
  );
}
