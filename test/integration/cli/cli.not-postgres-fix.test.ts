/**
 * Something that is not PostgreSQL answering on the port. An HTTP server
 * answers the SSL request (sslmode `prefer`, the default, and `require`)
 * with `HTTP/1.1 …`, which no PostgreSQL server does (its answer is one
 * byte, `S` or `N`): the fix line said the connection was cut, or only to
 * check the connection string. It now says the server at host:port did not
 * speak the PostgreSQL protocol and to check the port. Without SSL
 * (`disable`) the driver only sees the connection end, as it does for a
 * server that closes at once, which a restarting PostgreSQL or a proxy
 * can do too: those keep the general fix. A server that closed at once
 * could also leave the `prefer` probe waiting on nothing, and the CLI
 * exited 13 (an unsettled top-level await) without a word. An answer
 * that starts with `E` but is no whole error message (`E`, a length and
 * fields that never end) was taken for an old server's error: the driver
 * then connected without SSL, read the same answer to its startup message
 * and parsed its fields for ever, spinning a core, deaf to SIGTERM. A
 * server that answers `S` and then speaks no TLS got the generic fix
 * line; it now gets the SSL handshake one.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './cli-harness.js';

let http: Server;
let closing: Server;
let garbled: Server;
let notTls: Server;
const sockets = new Set<Socket>();
const portOf = (s: Server): number => (s.address() as { port: number }).port;

beforeAll(async () => {
  http = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  });
  closing = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.destroy();
  });
  garbled = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    // `E`, length 8, then four bytes of fields with no NUL anywhere.
    socket.once('data', () => socket.end(Buffer.from('E\0\0\0\x08abcd', 'latin1')));
  });
  // Says S (SSL, go on), then answers the TLS hello with no TLS at all.
  notTls = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write('S');
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    });
  });
  await Promise.all([http, closing, garbled, notTls].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([http, closing, garbled, notTls].map((s) => new Promise((resolve) => s.close(resolve))));
});

/** `partitions list` against 127.0.0.1:`port` with `sslmode`: it connects first. */
const listAt = (port: number, sslmode: string) =>
  cli(['partitions', 'list', '--table', 'scanner.artifact_boms', '--pg', `postgres://u@127.0.0.1:${port}/d?sslmode=${sslmode}`], {
    killAfterMs: 30_000,
  });

const fixLine = (stderr: string): string => /^ {2}fix: {5}(.*)$/m.exec(stderr)?.[1] ?? '';
const CUT = /^The connection was cut /;

describe('a server that is not PostgreSQL on the port', () => {
  it.for([
    ['an HTTP server', 'prefer'],
    ['an HTTP server', 'require'],
    ['a server answering the SSL request with E and fields that never end', 'prefer'],
    ['a server answering the SSL request with E and fields that never end', 'allow'],
  ] as const)(
    '%s, sslmode=%s: exit 6 at once, the fix says it did not speak the PostgreSQL protocol',
    { timeout: 60_000 },
    async ([what, sslmode]) => {
      const port = portOf(what === 'an HTTP server' ? http : garbled);
      const r = await listAt(port, sslmode);
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(6);
      expect(r.stderr).toContain('error DB_CONNECTION:');
      expect(fixLine(r.stderr)).toMatch(
        new RegExp(`^The server at 127\\.0\\.0\\.1:${port} did not speak the PostgreSQL protocol .*: check the port`),
      );
    },
  );

  it('an HTTP server, sslmode=disable: the driver sees only the connection end, so the fix stays the general one', {
    timeout: 60_000,
  }, async () => {
    const r = await listAt(portOf(http), 'disable');
    expect(r.code, r.stderr).toBe(6);
    expect(fixLine(r.stderr)).toMatch(CUT);
  });

  it.for(['prefer', 'prefer', 'prefer', 'require', 'disable'])(
    'a server that closes at once, sslmode=%s (%#): exit 6 with the general fix (a PostgreSQL or a proxy can do that too)',
    { timeout: 60_000 },
    async (sslmode) => {
      const r = await listAt(portOf(closing), sslmode);
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(6);
      expect(fixLine(r.stderr)).toMatch(CUT);
    },
  );

  it.for(['prefer', 'require'])(
    'a server that answers S and then no TLS, sslmode=%s: the fix says the SSL handshake failed',
    { timeout: 60_000 },
    async (sslmode) => {
      const r = await listAt(portOf(notTls), sslmode);
      expect(r.code, r.stderr).toBe(6);
      expect(fixLine(r.stderr), r.stderr).toMatch(/^The SSL handshake with .* failed: check sslmode/);
    },
  );
});
