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
