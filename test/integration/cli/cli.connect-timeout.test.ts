/**
 * A database host that accepts the connection and never answers (a stuck
 * proxy, a half-dead server) must not hold the CLI forever: the connect
 * gives up after PGCONNECT_TIMEOUT seconds (libpq's variable) with
 * DB_CONNECTION, exit 6.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, jsonOf } from './cli-harness.js';

let server: Server;
const sockets = new Set<Socket>();
let port = 0;

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket); // accepted, never answered
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('a database that never answers', () => {
  it('gives up after PGCONNECT_TIMEOUT with DB_CONNECTION (exit 6)', async () => {
    const r = await cli(['dataset', 'rollback', '--dry-run', '--json', '--pg', `postgres://postgres@127.0.0.1:${port}/x`], {
      env: { PGCONNECT_TIMEOUT: '1' },
    });
    expect(r.code, r.stderr).toBe(6);
    expect(jsonOf(r).error?.code).toBe('DB_CONNECTION');
  }, 60_000);

  it('says which host did not answer within PGCONNECT_TIMEOUT, also when no SSL probe asks first (sslmode=disable)', async () => {
    const r = await cli(['dataset', 'rollback', '--dry-run', '--json', '--pg', `postgres://postgres@127.0.0.1:${port}/x?sslmode=disable`], {
      env: { PGCONNECT_TIMEOUT: '1' },
    });
    expect(r.code, r.stderr).toBe(6);
    expect(jsonOf(r).error?.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} did not answer within PGCONNECT_TIMEOUT \\(1 s\\)`));
  }, 60_000);

  it.for([
    ['a URL', (p: number) => `postgres://postgres@127.0.0.1:${p}/x?sslmode=disable&connect_timeout=1`],
    ["libpq's keyword form", (p: number) => `host=127.0.0.1 port=${p} dbname=x user=postgres sslmode=disable connect_timeout=1`],
  ] as const)(
    'connect_timeout in %s wins over PGCONNECT_TIMEOUT, as in libpq, and the message names it',
    { timeout: 60_000 },
    async ([, pg]) => {
      // PGCONNECT_TIMEOUT=0 waits for ever: a CLI that took it over connect_timeout would be killed short of the test's timeout.
      const r = await cli(['dataset', 'rollback', '--dry-run', '--json', '--pg', pg(port)], {
        env: { PGCONNECT_TIMEOUT: '0' },
        killAfterMs: 50_000,
      });
      expect(r.code, r.stderr).toBe(6);
      expect(jsonOf(r).error?.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} did not answer within connect_timeout \\(1 s\\)`));
    },
  );

  it('a connect_timeout that is not a number of seconds is a usage error naming it', async () => {
    const r = await cli(['dataset', 'rollback', '--dry-run', '--pg', `host=127.0.0.1 port=${port} connect_timeout=soon`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --pg: connect_timeout must be a whole number of seconds/m);
  }, 60_000);

  it('a PGCONNECT_TIMEOUT that is not a number of seconds is a usage error', async () => {
    const r = await cli(['dataset', 'rollback', '--dry-run', '--pg', `postgres://postgres@127.0.0.1:${port}/x`], {
      env: { PGCONNECT_TIMEOUT: 'soon' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: PGCONNECT_TIMEOUT /m);
  }, 60_000);

  // Past what a timer holds (2^31 - 1 ms, about 24.8 days), Node.js fired the timer after 1 ms: every connection failed at once.
  it.for(['2147484', '9999999'])(
    'PGCONNECT_TIMEOUT=%s (longer than a timer holds) still connects to a server that answers',
    { timeout: 60_000 },
    async (seconds, ctx) => {
      const url = process.env['BACKFILL_KIT_PG_URL'];
      if (url === undefined) return ctx.skip('skipped: needs BACKFILL_KIT_PG_URL, a server that answers');
      const r = await cli(['partitions', 'list', '--table', 'pg_catalog.no_such_table', '--pg', url], {
        env: { PGCONNECT_TIMEOUT: seconds },
      });
      expect(r.stderr).not.toMatch(/DB_CONNECTION|Timeout/);
      expect(r.stderr).toMatch(/^error TABLE_NOT_FOUND: /m);
    },
  );

  it.for([
    ['asking whether it offers SSL (sslmode=prefer)', 'prefer'],
    ['connecting (sslmode=disable)', 'disable'],
  ])('with PGCONNECT_TIMEOUT=0, SIGTERM while %s stops the command at once: ABORTED, exit 130', { timeout: 60_000 }, async ([, mode]) => {
    let pid: number | undefined;
    const started = Date.now();
    const running = cli(['partitions', 'list', '--json', '--pg', `postgres://postgres@127.0.0.1:${port}/x?sslmode=${mode}`], {
      env: { PGCONNECT_TIMEOUT: '0' },
      onSpawn: (p) => (pid = p),
    });
    // Once the CLI has connected to the server that never answers.
    const before = sockets.size;
    while (sockets.size === before && Date.now() - started < 20_000) await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(pid!, 'SIGTERM');
    const stop = setTimeout(() => process.kill(pid!, 'SIGKILL'), 15_000);
    const r = await running;
    clearTimeout(stop);
    expect(r.signal, 'still waiting for the server 15 s after SIGTERM').toBeNull();
    expect(r.code, r.stderr).toBe(130);
    expect(jsonOf(r).error?.code).toBe('ABORTED');
  });
});
