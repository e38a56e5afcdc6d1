/**
 * The password file (`~/.pgpass`) for every connection of the planned-run
 * commands: the CLI's pool, the run's own pool and the job engine's
 * (pg-boss's). Those two read it through the driver: a `DeprecationWarning`
 * on stderr whenever it gave a password, and with `HOME` empty, the
 * `./.pgpass` of the current directory, which anyone who may write there
 * can plant. In front of the real server here sits one that asks each
 * connection for a password in clear text, records it with the
 * connection's application name, and then hands the connection over to
 * the real server.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { seedDocuments } from '../statements/helpers.js';
import { cli } from './cli-harness.js';

/** A connection's login: the application it named and the password it gave. */
interface Login {
  readonly app: string;
  readonly password: string;
}

const logins: Login[] = [];
const sockets = new Set<Socket>();
let server: Server;
let port = 0;
let db: TestDatabase;

/** PostgreSQL's request codes of a first message with no type byte. */
const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;

/** The startup message's parameters (name, value, … after the length and the protocol version). */
function parametersOf(startup: Buffer): Map<string, string> {
  const words = startup.subarray(8).toString('utf8').split('\0');
  const parameters = new Map<string, string>();
  for (let i = 0; i + 1 < words.length; i += 2) if (words[i] !== '') parameters.set(words[i]!, words[i + 1]!);
  return parameters;
}

/** The real server's login, for a server that asks for a password (the embedded one the second CI run starts does). */
interface UpstreamLogin {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** A PasswordMessage answering the real server's request `code` (3: clear text, 5: MD5 with `salt`), or undefined for another request. */
function passwordAnswer(code: number, salt: Buffer, login: UpstreamLogin): Buffer | undefined {
  const md5 = (text: Buffer | string): string => createHash('md5').update(text).digest('hex');
  const text =
    code === 3
      ? login.password
      : code === 5
        ? `md5${md5(Buffer.concat([Buffer.from(md5(login.password + login.user)), salt]))}`
        : undefined;
  if (text === undefined) return undefined;
  const body = Buffer.from(`${text}\0`);
  const message = Buffer.alloc(5 + body.length);
  message.write('p', 0);
  message.writeInt32BE(4 + body.length, 1);
  body.copy(message, 5);
  return message;
}

/**
 * Hands `client` over to the real server: `first` (the startup or cancel
 * message), then the bytes both ways. After a startup, a password request
 * of the real server's is answered here with its own login (the client
 * gave its password to this server already), so the client sees only the
 * AuthenticationOk that follows.
 */
function handOver(client: Socket, upstream: UpstreamLogin, first: Buffer, rest: Buffer, startup: boolean): void {
  client.pause();
  const real = connect({ host: upstream.host, port: upstream.port }, () => {
    real.write(first);
    if (rest.length > 0) real.write(rest);
    const pipeBoth = (): void => {
      client.pipe(real);
      real.pipe(client);
    };
    if (!startup) return pipeBoth();
    let head = Buffer.alloc(0);
    const onReply = (data: Buffer): void => {
      head = Buffer.concat([head, data]);
      if (head.length < 9) return;
      real.off('data', onReply);
      const answer = head[0] === 0x52 ? passwordAnswer(head.readInt32BE(5), head.subarray(9, 13), upstream) : undefined;
      const request = head.readInt32BE(1) + 1;
      if (answer !== undefined && head.length >= request) {
        real.write(answer);
        head = head.subarray(request);
      }
      if (head.length > 0) client.write(head);
      pipeBoth();
    };
    real.on('data', onReply);
  });
  sockets.add(real);
  real.on('error', () => client.destroy());
  client.on('error', () => real.destroy());
  client.on('close', () => real.destroy());
  real.on('close', () => client.destroy());
}

beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 11, count: 30, brokenRatio: 0 });
  const real = new URL(db.url);
  const upstream: UpstreamLogin = {
    host: real.hostname,
    port: Number(real.port || 5432),
    user: decodeURIComponent(real.username),
    password: decodeURIComponent(real.password),
  };
  server = createServer((client) => {
    sockets.add(client);
    let buffer = Buffer.alloc(0);
    let startup: Buffer | undefined;
    const onData = (data: Buffer): void => {
      buffer = Buffer.concat([buffer, data]);
      if (startup === undefined) {
        while (buffer.length >= 8 && buffer.length >= buffer.readInt32BE(0)) {
          const first = buffer.subarray(0, buffer.readInt32BE(0));
          buffer = buffer.subarray(first.length);
          const code = first.readInt32BE(4);
          if (code === SSL_REQUEST) client.write('N');
          else if (code === CANCEL_REQUEST) {
            client.off('data', onData);
            handOver(client, upstream, first, buffer, false);
            return;
          } else {
            startup = first;
            // AuthenticationCleartextPassword.
            client.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]));
            break;
          }
        }
        if (startup === undefined) return;
      }
      if (buffer.length < 5 || buffer.length < buffer.readInt32BE(1) + 1) return;
      const length = buffer.readInt32BE(1);
      logins.push({
        app: parametersOf(startup).get('application_name') ?? '',
        password: buffer
          .subarray(5, length + 1)
          .toString('utf8')
          .replace(/\0$/, ''),
      });
      client.off('data', onData);
      // The real server's AuthenticationOk follows the password request (after its own password request, answered in handOver).
      handOver(client, upstream, startup, buffer.subarray(length + 1), true);
    };
    client.on('data', onData);
    client.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
}, 120_000);
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server?.close(resolve));
  await db?.drop();
});

const dir = tempDir('bk-cli-pgpass-jobs-');

/** A password file at `path` whose one line gives `password` to any connection, at `mode`. */
function passwordFile(path: string, password: string, mode = 0o600): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `*:*:*:*:${password}\n`);
  chmodSync(path, mode);
}

/** The planned-run commands of run `runId` through the recording server, with no password in the URL; each one's stderr. */
async function plannedRun(runId: string, env: Record<string, string>, cwd: string): Promise<string[]> {
  const url = new URL(db.url);
  const pg = `postgres://${url.username}@127.0.0.1:${port}${url.pathname}?sslmode=disable`;
  const commands: readonly (readonly string[])[] = [
    ['statements', 'plan', '--run-id', runId, '--range-size', '10'],
    ['statements', 'worker', '--until-done', '--run-id', runId],
    ['statements', 'report', '--run-id', runId],
    ['statements', 'backfill', '--workers', '2', '--run-id', `${runId}-b`, '--range-size', '10'],
  ];
  const stderrs: string[] = [];
  for (const args of commands) {
    const r = await cli([...args, '--json', '--pg', pg], { env, cwd, killAfterMs: 100_000 });
    expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    stderrs.push(r.stderr);
  }
  return stderrs;
}

describe('the planned-run commands and the password file', () => {
  it("give every connection, the job engine's too, the password of HOME's file, with no deprecation warning", async () => {
    passwordFile(join(dir, 'home', '.pgpass'), 'from-home');
    logins.length = 0;
    const stderrs = await plannedRun('home', { HOME: join(dir, 'home') }, dir);
    for (const stderr of stderrs) expect(stderr).not.toMatch(/Deprecation|pg@9/);
    expect(logins.filter((l) => l.app === 'backfill-kit jobs').length).toBeGreaterThan(0);
    expect(logins.filter((l) => l.app !== 'backfill-kit jobs').length).toBeGreaterThan(0);
    expect(logins.filter((l) => l.password !== 'from-home')).toEqual([]);
  }, 300_000);

  it('with HOME empty, give no connection the password file planted in the current directory', async () => {
    const cwd = join(dir, 'shared');
    passwordFile(join(cwd, '.pgpass'), 'planted');
    logins.length = 0;
    await plannedRun('planted', { HOME: '' }, cwd);
    expect(logins.filter((l) => l.app === 'backfill-kit jobs').length).toBeGreaterThan(0);
    expect(logins.filter((l) => l.password === 'planted')).toEqual([]);
  }, 300_000);

  it('that others may read, is not read, with one warning per command however many connections it opens', async () => {
    passwordFile(join(dir, 'open'), 'readable', 0o644);
    logins.length = 0;
    const stderrs = await plannedRun('open', { HOME: join(dir, 'home'), PGPASSFILE: join(dir, 'open') }, dir);
    expect(logins.length).toBeGreaterThan(stderrs.length);
    expect(logins.filter((l) => l.password === 'readable')).toEqual([]);
    for (const stderr of stderrs)
      expect(stderr.split(`password file ${join(dir, 'open')} has group or world access`).length - 1, stderr).toBe(1);
  }, 300_000);
});
