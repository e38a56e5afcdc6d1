/**
 * A shipper whose own settings are wrong (an empty or mistyped receiver URL
 * from the environment, a header name that is not one) can never succeed:
 * that must be a configuration error, not a "network failure, will retry"
 * that a shipping loop retries for ever.
 */
import { describe, expect, it } from 'vitest';
import { shipWithCommit } from '../../../src/version-gate/index.js';

const COMMIT = 'a'.repeat(40);

describe('shipWithCommit with settings that cannot work', () => {
  it.each([
    ['an empty URL (an unset variable)', { url: '' }],
    ['a URL without a scheme', { url: 'receiver.internal:8080/episodes/e1' }],
    ['a scheme fetch cannot send to', { url: 'ftp://receiver.internal/episodes/e1' }],
    ['a header name with a space', { url: 'http://127.0.0.1:9/episodes/e1', header: 'x code commit' }],
    // fetch refuses every request to such a URL, so the shipper retried it for ever (and logged the password each time).
    ['a URL with a user and password', { url: 'http://ops:s3cret@127.0.0.1:9/episodes/e1' }],
    ['a URL with a user', { url: 'http://ops@127.0.0.1:9/episodes/e1' }],
    ['an extra header value with a line break', { url: 'http://127.0.0.1:9/episodes/e1', headers: { authorization: 'Bearer a\r\nb' } }],
    // fetch throws on these before sending, as it does on a network failure: a shipper retried them for ever.
    ['a method with a space', { url: 'http://127.0.0.1:9/episodes/e1', method: 'PU T' }],
    ['an empty method (an unset variable)', { url: 'http://127.0.0.1:9/episodes/e1', method: '' }],
    ['a method fetch refuses to send (CONNECT)', { url: 'http://127.0.0.1:9/episodes/e1', method: 'CONNECT' }],
    ['a method fetch refuses to send (trace)', { url: 'http://127.0.0.1:9/episodes/e1', method: 'trace' }],
    ['GET, which cannot carry the upload', { url: 'http://127.0.0.1:9/episodes/e1', method: 'get' }],
  ])('%s is INVALID_ARGUMENT, not a retry', async (_what, settings) => {
    let fetched = 0;
    const r = await shipWithCommit({
      commit: COMMIT,
      body: 'x',
      ...settings,
      fetch: (async (...args: Parameters<typeof fetch>) => {
        fetched += 1;
        return fetch(...args);
      }) as typeof fetch,
    });
    expect(r.isErr() ? r.error.code : r.value.verdict).toBe('INVALID_ARGUMENT');
    expect(fetched).toBe(0);
  });
});

describe('shipWithCommit with another method', () => {
  it.for(['post', 'PATCH'])('%s is sent as given (fetch upper-cases the standard ones)', async (method) => {
    let sentMethod: string | undefined;
    const r = await shipWithCommit({
      url: 'http://127.0.0.1:9/episodes/e1',
      commit: COMMIT,
      body: 'x',
      method,
      fetch: (async (...args: Parameters<typeof fetch>) => {
        sentMethod = new Request(...args).method;
        return new Response('stored', { status: 201 });
      }) as typeof fetch,
    });
    expect(r._unsafeUnwrap().verdict).toBe('ok');
    expect(sentMethod).toBe(method.toUpperCase());
  });
});

describe('shipWithCommit with credentials in the URL', () => {
  it.for([
    ['http://ops:s3cret@127.0.0.1:9/episodes/e1', 'http://ops:***@127.0.0.1:9/episodes/e1'],
    ['ftp://ops:s3cret@receiver.internal/episodes/e1', 'ftp://ops:***@receiver.internal/episodes/e1'],
  ] as const)('%s is refused without showing the password', async ([url, shown]) => {
    const logged: string[] = [];
    const note = (message: string, fields?: Record<string, unknown>): void => void logged.push(message, JSON.stringify(fields ?? {}));
    const r = await shipWithCommit({ url, commit: COMMIT, body: 'x', logger: { info: note, warn: note, error: note } });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    const message = r.isErr() ? r.error.message : '';
    expect(message).toContain(shown);
    expect([message, ...logged].join('\n')).not.toContain('s3cret');
  });
});

describe('shipWithCommit with the commit header in headers too', () => {
  /** What the receiver got as the commit header, sending `headers`. */
  async function sent(headers: Record<string, string>): Promise<{ verdict: string; header: string | null }> {
    let header: string | null = null;
    const r = await shipWithCommit({
      url: 'http://127.0.0.1:9/episodes/e1',
      commit: COMMIT,
      body: 'x',
      headers,
      fetch: (async (_url: unknown, init?: RequestInit) => {
        header = new Headers(init?.headers).get('x-code-commit');
        return new Response('stored', { status: 201 });
      }) as typeof fetch,
    });
    return { verdict: r.isErr() ? r.error.code : r.value.verdict, header };
  }

  // Appended to it, the header read "<hash>, <hash>": a receiver refuses that as malformed (400), a fatal answer, for every upload.
  it.for([{ 'X-Code-Commit': COMMIT }, { 'x-code-commit': COMMIT.toUpperCase() }])('%o sends the commit once', async (headers) => {
    expect(await sent(headers)).toEqual({ verdict: 'ok', header: COMMIT });
  });

  it('another commit there is INVALID_ARGUMENT, and nothing is sent', async () => {
    expect(await sent({ 'X-Code-Commit': 'b'.repeat(40) })).toEqual({ verdict: 'INVALID_ARGUMENT', header: null });
  });
});
