/**
 * A receiver URL that answers with a redirect (http:// behind an https://
 * proxy, a moved route): fetch would follow it, turning the PUT of a 303
 * into a GET whose 200 reads as "stored", and failing a streamed body as a
 * network error that a shipping loop retries for ever.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shipWithCommit } from '../../../src/version-gate/index.js';

const COMMIT = 'c0ffee00112233445566778899aabbccddeeff00';

let server: Server;
let base: string;
/** Requests the receiver saw, as `METHOD path`. */
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      const redirect = /^\/r(\d{3})$/.exec(req.url ?? '');
      if (redirect) res.writeHead(Number(redirect[1]), { location: '/landing' }).end();
      else res.writeHead(req.method === 'PUT' ? 201 : 200, { 'content-type': 'text/html' }).end('<html>welcome</html>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function* streamed(): AsyncGenerator<Uint8Array> {
  yield Buffer.from('tarball bytes');
}

describe('shipWithCommit answered with a redirect', () => {
  it.for([301, 302, 303, 307, 308].flatMap((status) => [[status, 'a buffer'] as const, [status, 'a stream'] as const]))(
    '%i with %s body is fatal, names the Location, and sends nothing on',
    async ([status, kind]) => {
      seen.length = 0;
      const errors: string[] = [];
      const r = await shipWithCommit({
        url: `${base}/r${status}`,
        commit: COMMIT,
        body: kind === 'a stream' ? streamed() : Buffer.from('tarball bytes'),
        logger: { info: () => undefined, warn: () => undefined, error: (message) => void errors.push(message) },
      });
      const outcome = r._unsafeUnwrap();
      expect(outcome.verdict).toBe('fatal');
      expect(outcome.status).toBe(status);
      expect(outcome.message).toContain('"/landing"');
      expect(outcome.message).toContain('Set url');
      expect(seen).toEqual([`PUT /r${status}`]);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain('"/landing"');
    },
  );

  it('still ships to the address that takes uploads', async () => {
    seen.length = 0;
    const outcome = (await shipWithCommit({ url: `${base}/landing`, commit: COMMIT, body: streamed() }))._unsafeUnwrap();
    expect(outcome.verdict).toBe('ok');
    expect(outcome.status).toBe(201);
    expect(seen).toEqual(['PUT /landing']);
  });
});
