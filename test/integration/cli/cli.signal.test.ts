import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { cli } from './cli-harness.js';

const dir = tempDir('bk-cli-signal-');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('Ctrl-C during an import', () => {
  it('exits 130 with ABORTED and leaves the tables exactly as they were', async () => {
    const small = join(dir, 'small.tar.zst');
    const big = join(dir, 'big.tar.zst');
    expect((await cli(['dataset', 'build', small, '--linksets', '7', '--chunks', '3', '--quiet'])).code).toBe(0);
    expect((await cli(['dataset', 'build', big, '--linksets', '100000', '--chunks', '10', '--quiet'])).code).toBe(0);
    expect((await cli(['dataset', 'import', small, '--quiet'], { env: { PGURI: db.url } })).code).toBe(0);

    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const child = spawn(
      process.execPath,
      ['--import', tsx, fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url)), 'dataset', 'import', big],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PGURI: db.url, BACKFILL_KIT_PROGRESS_INTERVAL: '0.001' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let signalled = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      // Interrupt once rows are flowing into COPY, well before the end.
      if (!signalled && /: [1-9][\d,]*\/100,010 rows/.test(stderr)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(signalled, stderr).toBe(true);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/^error ABORTED: /m);
    const counts = await db.query<{ l: number; c: number }>(
      'SELECT (SELECT count(*)::int FROM lnm_raw.linksets_raw) AS l, (SELECT count(*)::int FROM lnm_raw.advisory_chunks_raw) AS c',
    );
    expect(counts[0]).toEqual({ l: 7, c: 3 });
  }, 240_000);
});

describe('SIGTERM, SIGINT or SIGHUP during a dataset build', () => {
  // SIGHUP: the operator's SSH session or terminal closed during the maintenance window.
  it.each([['SIGTERM'], ['SIGINT'], ['SIGHUP']] as const)(
    '%s exits 130 with ABORTED and leaves neither the tarball nor its temporary files',
    async (signal) => {
      const out = join(dir, `interrupted-${signal}`);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(out);
      let pid: number | undefined;
      const running = cli(['dataset', 'build', join(out, 'big.tar.zst'), '--linksets', '50000000'], { onSpawn: (p) => (pid = p) });
      // Interrupt once the build has started spooling members into its temporary directory.
      while (readdirSync(out).length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      process.kill(pid!, signal);
      const r = await running;
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(/^error ABORTED: /m);
      expect(readdirSync(out)).toEqual([]);
    },
    240_000,
  );
});
