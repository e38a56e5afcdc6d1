import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { abortedJsonOf, type CliRun, cli, interruptedWhileLocked, jsonOf, waitingForLock } from './cli-harness.js';

const dir = tempDir('bk-cli-interrupt-lock-');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

async function staged(): Promise<{ l: number; c: number; leftovers: string[] }> {
  const [counts] = await db.query<{ l: number; c: number }>(
    'SELECT (SELECT count(*)::int FROM lnm_raw.linksets_raw) AS l, (SELECT count(*)::int FROM lnm_raw.advisory_chunks_raw) AS c',
  );
  const leftovers = await db.query<{ relname: string }>(
    "SELECT relname FROM pg_catalog.pg_class WHERE relname LIKE '\\_bk\\_%' ORDER BY relname",
  );
  return { ...counts!, leftovers: leftovers.map((r) => r.relname) };
}

/** {@link interruptedWhileLocked} with a SHARE lock on `table`, for a command given a 120 s lock timeout. */
function interruptedHoldingShare(table: string, args: readonly string[], signal: NodeJS.Signals): Promise<CliRun> {
  return interruptedWhileLocked(
    db,
    { lock: `LOCK TABLE ${table} IN SHARE MODE`, waitsOn: 'LOCK TABLE%' },
    [...args, '--lock-timeout-ms', '120000'],
    signal,
  );
}

describe('Ctrl-C while the swap waits for the staging tables lock', () => {
  it.each([['SIGINT'], ['SIGTERM']] as const)(
    '%s: the swap is not committed once the lock is granted; exit 130, ABORTED, the tables as they were',
    async (signal) => {
      const before = join(dir, `before-${signal}.tar.zst`);
      const after = join(dir, `after-${signal}.tar.zst`);
      expect((await cli(['dataset', 'build', before, '--linksets', '7', '--chunks', '3', '--quiet'])).code).toBe(0);
      expect((await cli(['dataset', 'build', after, '--linksets', '9', '--chunks', '4', '--quiet'])).code).toBe(0);
      expect((await cli(['dataset', 'import', before, '--quiet'], { env: { PGURI: db.url } })).code).toBe(0);

      const r = await interruptedHoldingShare('lnm_raw.linksets_raw', ['dataset', 'import', after, '--strategy', 'swap'], signal);
      expect(r.code, r.stderr).toBe(130);
      const doc = jsonOf(r);
      expect(doc.ok).toBe(false);
      expect(doc.error?.code).toBe('ABORTED');
      expect(doc.report?.committed).toBe(false);
      // The previous contents, and no fresh or old tables left behind.
      expect(await staged()).toEqual({ l: 7, c: 3, leftovers: [] });
    },
    120_000,
  );
});

describe('Ctrl-C while a truncate import waits for the staging tables lock', () => {
  it.each([['SIGINT'], ['SIGTERM']] as const)(
    '%s: ABORTED says it was waiting for the lock on the tables and that nothing changed; the tables as they were',
    async (signal) => {
      const before = join(dir, `truncate-before-${signal}.tar.zst`);
      const after = join(dir, `truncate-after-${signal}.tar.zst`);
      expect((await cli(['dataset', 'build', before, '--linksets', '7', '--chunks', '3', '--quiet'])).code).toBe(0);
      expect((await cli(['dataset', 'build', after, '--linksets', '9', '--chunks', '4', '--quiet'])).code).toBe(0);
      expect((await cli(['dataset', 'import', before, '--quiet'], { env: { PGURI: db.url } })).code).toBe(0);

      const r = await interruptedHoldingShare('lnm_raw.linksets_raw', ['dataset', 'import', after, '--strategy', 'truncate'], signal);
      const doc = abortedJsonOf(r, /waiting for the lock on .*linksets_raw.*nothing was changed/);
      expect(doc.report?.committed).toBe(false);
      expect(await staged()).toEqual({ l: 7, c: 3, leftovers: [] });
    },
    120_000,
  );
});

describe('Ctrl-C while a rollback waits for the staging tables lock', () => {
  it.each([['SIGINT'], ['SIGTERM']] as const)(
    '%s: the tables are not emptied once the lock is granted; exit 130, ABORTED',
    async (signal) => {
      const ds = join(dir, `rollback-${signal}.tar.zst`);
      expect((await cli(['dataset', 'build', ds, '--linksets', '7', '--chunks', '3', '--quiet'])).code).toBe(0);
      expect((await cli(['dataset', 'import', ds, '--quiet'], { env: { PGURI: db.url } })).code).toBe(0);

      const r = await interruptedHoldingShare('lnm_raw.advisory_chunks_raw', ['dataset', 'rollback', '--no-dry-run'], signal);
      const doc = abortedJsonOf(r, /rollback .*nothing was emptied/);
      expect(doc.report).toEqual({ dryRun: false, before: { linksets_raw: 7, advisory_chunks_raw: 3 } });
      expect(await staged()).toEqual({ l: 7, c: 3, leftovers: [] });
    },
    120_000,
  );
});

describe('Ctrl-C twice while a rollback waits for the staging tables lock', () => {
  it('the --json document of the second names the command it interrupted', async () => {
    const ds = join(dir, 'rollback-twice.tar.zst');
    expect((await cli(['dataset', 'build', ds, '--linksets', '7', '--chunks', '3', '--quiet'])).code).toBe(0);
    expect((await cli(['dataset', 'import', ds, '--quiet'], { env: { PGURI: db.url } })).code).toBe(0);
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      await reader.query('BEGIN');
      await reader.query('LOCK TABLE lnm_raw.advisory_chunks_raw IN SHARE MODE');
      let pid: number | undefined;
      const running = cli(['dataset', 'rollback', '--no-dry-run', '--lock-timeout-ms', '120000', '--json'], {
        env: { PGURI: db.url },
        onSpawn: (p) => (pid = p),
      });
      await waitingForLock(db, 'LOCK TABLE%');
      process.kill(pid!, 'SIGINT');
      // Apart: two signals sent at once arrive as one. The first waits for the lock, so the second quits at once.
      await new Promise((resolve) => setTimeout(resolve, 500));
      process.kill(pid!, 'SIGINT');
      const r = await running;
      expect(r.code, r.stderr).toBe(130);
      const doc = jsonOf(r);
      expect(doc.command).toBe('dataset rollback');
      expect(doc.error?.code).toBe('ABORTED');
      expect(doc.error?.message).toMatch(/Interrupted twice/);
    } finally {
      await reader.query('ROLLBACK').catch(() => undefined);
      await reader.end();
    }
    expect(await staged()).toEqual({ l: 7, c: 3, leftovers: [] });
  }, 120_000);
});
