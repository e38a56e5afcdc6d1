/**
 * The shipper's side of the gate: send an upload with its commit header and
 * classify the answer.
 *
 * @module
 */
import { err, ok, type Result, ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { loggerOf } from '../_internals/logger.js';
import { classifyGateResponse, type GateResponseClass } from './classify-gate-response.js';
import { echoValue, normalizeCommit } from './commit-hash.js';
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
  /**
   * The request method; one fetch would refuse (not a token, `CONNECT`,
   * `TRACE`, or `GET`/`HEAD` with a body) is `INVALID_ARGUMENT`.
   * @defaultValue `'PUT'`
   */
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
 * status 0, not an error; errors are only a malformed commit or setting (nothing is
 * sent) and `ABORTED`. On a fatal answer with a remediation, the remediation
 * is logged at error level, so the host's journal shows what to run.
 * Redirects are not followed: a 3xx answer is `fatal`, and its `message`
 * names the `Location` to set `url` to (followed, a 303 would turn the
 * upload into a GET whose 200 reads as stored, and a streamed body cannot
 * be sent twice).
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

/** `url` as messages show it: without its password. */
function shownUrl(url: URL): string {
  if (url.password === '') return url.href;
  const shown = new URL(url.href);
  shown.password = '***';
  return shown.href;
}

/**
 * Checks what no retry can fix before sending: the URL is an absolute
 * http(s) URL without credentials, the method is one fetch sends (with
 * the body), and every header is one fetch will send. fetch rejects them the way it rejects a network failure, which a
 * shipper retries for ever.
 */
function requestHeaders(commit: string, options: ShipWithCommitOptions): Result<Headers, BackfillError> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (e) {
    return err(invalidSetting(`url ${JSON.stringify(String(options.url))} is not an absolute http:// or https:// URL.`, e));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return err(invalidSetting(`url ${JSON.stringify(shownUrl(url))} is not an http:// or https:// URL.`));
  // fetch refuses to send a request to a URL with a user or password in it, whatever the receiver would say.
  if (url.username !== '' || url.password !== '')
    return err(
      invalidSetting(
        `url ${JSON.stringify(shownUrl(url))} holds credentials (user:password@), which fetch does not send: give them in headers (authorization) instead.`,
      ),
    );
  const method = methodProblem(options);
  if (method !== undefined) return err(invalidSetting(method));
  const name = options.header ?? DEFAULT_GATE_HEADER;
  let headers: Headers;
  try {
    headers = new Headers(options.headers);
    // Appended to one `headers` has under another spelling, the value would read "<hash>, <hash>": malformed to a receiver.
    const given = headers.get(name);
    if (given !== null && normalizeCommit(given).unwrapOr(undefined) !== commit)
      return err(invalidSetting(`headers sets ${name} to ${JSON.stringify(echoValue(given))}, not to the commit ${commit}: leave it out.`));
    headers.set(name, commit);
  } catch (e) {
    return err(invalidSetting(`A request header is not valid (${e instanceof Error ? e.message : String(e)}).`, e));
  }
  return ok(headers);
}

/** An HTTP method is a token (RFC 9110). */
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Methods fetch refuses to send, whatever their case. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/** Why fetch would refuse `options.method` (with `options.body`) before sending anything, or undefined when it would not. */
function methodProblem(options: ShipWithCommitOptions): string | undefined {
  const method: unknown = options.method ?? 'PUT';
  if (typeof method !== 'string' || !METHOD_TOKEN.test(method))
    return `method ${JSON.stringify(echoValue(String(method)))} is not an HTTP method; leave it out for PUT, or give POST.`;
  const upper = method.toUpperCase();
  if (FORBIDDEN_METHODS.has(upper)) return `method ${method} is one fetch refuses to send; leave it out for PUT, or give POST.`;
  if ((upper === 'GET' || upper === 'HEAD') && options.body !== undefined)
    return `method ${method} cannot carry the upload's body; leave it out for PUT, or give POST.`;
  return undefined;
}

/** Sends the upload with the normalised `commit` in `headers`, logs a fatal or retryable answer, and classifies it. */
function ship(commit: string, headers: Headers, options: ShipWithCommitOptions): ResultAsync<ShipOutcome, BackfillError> {
  const logger = loggerOf(options.logger);
  const doFetch = options.fetch ?? fetch;
  const body = options.body;
  const init: RequestInit & { duplex?: 'half' } = {
    method: options.method ?? 'PUT',
    headers,
    ...(body === undefined ? {} : { body: body as NonNullable<RequestInit['body']> }),
    ...(body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array) ? { duplex: 'half' as const } : {}),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    // Followed, a 303 turns the PUT into a GET whose 200 reads as stored, and a streamed body cannot be sent again.
    redirect: 'manual',
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
    const classified = classifyGateResponse(response.status, responseText);
    const redirect = redirected(response, classified);
    const outcome: ShipOutcome = { ...classified, ...redirect, responseText };
    const fields = {
      status: outcome.status,
      code: outcome.code,
      your_commit: outcome.yourCommit ?? commit,
      head_commit: outcome.headCommit,
    };
    if (outcome.verdict === 'fatal') {
      const what = `upload refused by the receiver (${outcome.status}${outcome.code === null ? '' : ` ${outcome.code}`}); it will not be retried${redirect.message === undefined ? '' : `: ${redirect.message}`}`;
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

/**
 * A redirect answer (3xx, or an opaque one from a fetch that hides it) as
 * a fatal outcome whose message names where the receiver pointed: the
 * upload is not sent on, since the shipper's `url` is what needs fixing.
 */
function redirected(response: Response, classified: GateResponseClass): Partial<GateResponseClass> {
  const opaque = response.type === 'opaqueredirect';
  if (!opaque && (response.status < 300 || response.status >= 400)) return {};
  const location = response.headers.get('location');
  const to = location === null ? 'another address' : JSON.stringify(echoValue(location));
  return {
    verdict: 'fatal',
    message: `the receiver answered ${opaque ? 'with a redirect' : response.status} pointing the upload to ${to}; uploads do not follow redirects. Set url to the address the receiver takes uploads at.${classified.message === null ? '' : ` ${classified.message}`}`,
  };
}
