/**
 * The planned-run commands (`statements plan`, `worker`, `report`,
 * `backfill --workers`) open their own pools for the run and the job engine.
 * Those connect as the CLI's own pool does: within PGCONNECT_TIMEOUT, and
 * as the OS user when neither the URL nor PGUSER names one.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOsUser } from '../../support/os-user-role.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { seedDocuments } from '../statements/helpers.js';
import { cli, jsonOf } from './cli-harness.js';

let server: Server;
const sockets = new Set<Socket>();
let port = 0;
let db: TestDatabase;

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket); // accepted, never answered
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 5, count: 30, brokenRatio: 0 });
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
  await db?.drop();
});

describe('planned-run commands against a database that never answers', () => {
  // sslmode=disable: no SSL probe, so the run's own connections are what waits.
  const silent = (): string => `postgres://postgres@127.0.0.1:${port}/x?sslmode=disable`;
  const commands: readonly (readonly string[])[] = [
    ['statements', 'plan', '--run-id', 'r1'],
    ['statements', 'worker', '--until-done', '--reconnect-seconds', '0'],
    ['statements', 'report', '--run-id', 'r1'],
    ['statements', 'backfill', '--workers', '2', '--run-id', 'r1', '--reconnect-seconds', '0'],
  ];
  for (const args of commands)
    it(`${args.slice(0, 2).join(' ')} gives up after PGCONNECT_TIMEOUT with DB_CONNECTION (exit 6)`, async () => {
      // The server never answers, and stays silent after: a command that waited for it would wait for ever (killed
      // short of the test's timeout, so no process outlives the test).
      const r = await cli([...args, '--json', '--pg', silent()], { env: { PGCONNECT_TIMEOUT: '1' }, killAfterMs: 50_000 });
      expect(r.code, r.stderr).toBe(6);
      expect(jsonOf(r).error?.code).toBe('DB_CONNECTION');
      // The run's own pool fails first, saying the limit it was given.
      expect(jsonOf(r).error?.message).toContain(`127.0.0.1:${port} did not answer within 1 s`);
    }, 60_000);
});

describe('planned-run commands with no user in the URL and no PGUSER', () => {
  it('connect as the OS user even when USER is unset (cron, systemd)', async () => {
    await asOsUser(db, async (env) => {
      const u = new URL(db.url);
      u.username = '';
      u.password = '';
      const pgFlags = ['--pg', u.toString(), '--json'];
      const planned = await cli(['statements', 'plan', '--run-id', 'os-user', '--range-size', '10', ...pgFlags], { env });
      expect(planned.code, planned.stdout + planned.stderr).toBe(0);
      const worked = await cli(['statements', 'worker', '--until-done', '--run-id', 'os-user', ...pgFlags], { env });
      expect(worked.code, worked.stdout + worked.stderr).toBe(0);
      const reported = await cli(['statements', 'report', '--run-id', 'os-user', ...pgFlags], { env });
      expect(reported.code, reported.stdout + reported.stderr).toBe(0);
      expect(reported.stdout).toMatch(/"evaluated": ?30/);
    });
  }, 120_000);
});
