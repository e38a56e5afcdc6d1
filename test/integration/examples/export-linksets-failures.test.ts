import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { runExample, showRun as show } from './run-example.js';

const dir = tempDir('bk-export-example-');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.query('CREATE SCHEMA ex_fail');
  await db.query('CREATE TABLE ex_fail.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL)');
  await db.query('CREATE TABLE ex_fail.advisory_chunks_raw (id text PRIMARY KEY, raw jsonb NOT NULL)');
  await db.query(`INSERT INTO ex_fail.linksets_raw VALUES ('a', '{"_id":"a"}')`);
});
afterAll(async () => {
  await db.drop();
});

describe('export-linksets-tarball.ts on failure says what to do, with no stack trace, and exits 1', () => {
  it('a database that is down: the error and its fix', async () => {
    const u = new URL(db.url);
    u.port = '1';
    const r = await runExample('export-linksets-tarball.ts', [join(dir, 'down.tar.zst')], { PGURI: u.toString(), PGSCHEMA: 'ex_fail' });
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/^export-linksets-tarball: DB_CONNECTION: .*\n {2}fix: \S/);
  }, 60_000);

  it('a directory where the .sha256 goes: refused before anything is written (it was an unhandled EISDIR with a stack trace)', async () => {
    const out = join(dir, 'blocked', 'linksets.tar.zst');
    mkdirSync(`${out}.sha256`, { recursive: true });
    const r = await runExample('export-linksets-tarball.ts', [out], { PGURI: db.url, PGSCHEMA: 'ex_fail' });
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr, show(r)).not.toMatch(/\n\s+at |Node\.js v/);
    expect(r.stderr, show(r)).toMatch(/^export-linksets-tarball: IO_ERROR: .*\.sha256 is a directory.*Nothing was written.*\n {2}fix: \S/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('still writes <tarball>.sha256 as sha256sum prints it, naming the file by its base name', async () => {
    const out = join(dir, 'ok', 'linksets.tar.zst');
    mkdirSync(join(dir, 'ok'), { recursive: true });
    const r = await runExample('export-linksets-tarball.ts', [out], { PGURI: db.url, PGSCHEMA: 'ex_fail' });
    expect(r.code, show(r)).toBe(0);
    const [printed] = r.stdout.split('  ');
    expect(readFileSync(`${out}.sha256`, 'utf8')).toBe(`${printed}  linksets.tar.zst\n`);
  }, 60_000);
});
