/**
 * The password file (`~/.pgpass`). The driver read it itself: whenever it
 * gave a password, Node printed a `DeprecationWarning` about the driver's
 * API on stderr; and with `HOME` unset or empty (cron, some service
 * managers) it read `./.pgpass` of the current directory, where anyone who
 * may write there can plant one, instead of the running user's, as libpq
 * does. A server here asks for a password in clear text and records it.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { cli } from './cli-harness.js';

const received: string[] = [];
const sockets = new Set<Socket>();
let server: Server;
let port = 0;

/** One message: its type byte, then a length that counts itself. */
const message = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(5);
  head.write(type, 0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};

beforeAll(async () => {
  // Refuses SSL, asks for a clear-text password, records it and refuses the login.
  server = createServer((socket) => {
    sockets.add(socket);
    let buffer = Buffer.alloc(0);
    let started = false;
    socket.on('data', (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      if (!started) {
        if (buffer.length < 8 || buffer.length < buffer.readInt32BE(0)) return;
        const code = buffer.readInt32BE(4);
        buffer = buffer.subarray(buffer.readInt32BE(0));
        if (code === 80877103) socket.write('N');
        else {
          started = true;
          const auth = Buffer.alloc(4);
          auth.writeInt32BE(3);
          socket.write(message('R', auth));
        }
        return;
      }
      if (buffer.length < 5 || buffer.length < buffer.readInt32BE(1) + 1) return;
      received.push(buffer.subarray(5, buffer.readInt32BE(1)).toString('utf8').replace(/\0$/, ''));
      socket.end(message('E', Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0')));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const dir = tempDir('bk-cli-pgpass-');

/** A password file at `path` whose one line gives `password` to any connection, at `mode`. */
function passwordFile(path: string, password: string, mode = 0o600): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `# a comment\n*:*:*:*:${password}\n`);
  chmodSync(path, mode);
}

/** `partitions list` against the recording server, as user ops with no password of its own; what the server received. */
async function login(
  env: Record<string, string>,
  cwd = dir,
): Promise<{ password: string | undefined; stderr: string; code: number | null }> {
  received.length = 0;
  const r = await cli(['partitions', 'list', '--pg', `postgres://ops@127.0.0.1:${port}/db`], { env, cwd });
  return { password: received[0], stderr: r.stderr, code: r.code };
}

describe('the password file', () => {
  it('is the one in HOME, read without a deprecation warning', async () => {
    passwordFile(join(dir, 'home', '.pgpass'), 'from-home');
    const r = await login({ HOME: join(dir, 'home') });
    expect(r.password).toBe('from-home');
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).not.toMatch(/Deprecation|pg@9/);
  });

  it('with HOME empty, is never the one in the current directory', async () => {
    const cwd = join(dir, 'shared');
    passwordFile(join(cwd, '.pgpass'), 'planted');
    const r = await login({ HOME: '' }, cwd);
    expect(r.code, r.stderr).toBe(6);
    expect(r.password).not.toBe('planted');
  });

  it('is PGPASSFILE when set, and PGPASSWORD wins over it', async () => {
    passwordFile(join(dir, 'named'), 'from-pgpassfile');
    expect((await login({ HOME: join(dir, 'home'), PGPASSFILE: join(dir, 'named') })).password).toBe('from-pgpassfile');
    expect((await login({ HOME: join(dir, 'home'), PGPASSFILE: join(dir, 'named'), PGPASSWORD: 'from-env' })).password).toBe('from-env');
  });

  it('that others may read is not read, with a warning saying how to fix it', async () => {
    passwordFile(join(dir, 'open'), 'readable', 0o644);
    const r = await login({ HOME: join(dir, 'home'), PGPASSFILE: join(dir, 'open') });
    expect(r.password).not.toBe('readable');
    expect(r.stderr).toContain(`password file ${join(dir, 'open')} has group or world access; it is not read. Make it u=rw`);
  });
});
