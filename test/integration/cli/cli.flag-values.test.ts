/**
 * Flag values a careless script gives: an empty value (`--pg "$UNSET"`) and
 * one flag given twice with different values. Neither may silently pick a
 * target the command line did not name.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { cli, jsonOf } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-cli-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A working directory that is itself shaped like an episodes root. */
async function episodesLikeCwd(name: string): Promise<string> {
  const cwd = join(dir, name);
  await buildEpisodeTarball({ meta: { code_version: { commit: 'a'.repeat(40) } }, path: join(cwd, 'lab-01', 'ep-1.tar.zst') });
  return cwd;
}

describe('CLI flags with an empty value', () => {
  it('refuses --episodes-root "" instead of walking the working directory', async () => {
    const cwd = await episodesLikeCwd('empty-root');
    const r = await cli(['index', 'backfill', '--episodes-root', '', '--index', 'index.jsonl', '--json'], { cwd });
    expect(r.code).toBe(2);
    expect(jsonOf(r).error?.message).toContain('--episodes-root');
    expect(existsSync(join(cwd, 'index.jsonl'))).toBe(false);
  });

  it('refuses --pg= (empty) instead of connecting to the database of the environment', async () => {
    const r = await cli(['partitions', 'list', '--pg=', '--json'], { env: { PG_DSN: 'postgres://nobody@127.0.0.1:1/from_env' } });
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toContain('--pg');
    expect(r.stderr).not.toContain('from_env');
  });
});

describe('CLI flags given twice', () => {
  it('refuses one flag given twice with different values, naming both', async () => {
    const cwd = await episodesLikeCwd('twice');
    const r = await cli(['index', 'backfill', '--episodes-root', '.', '--index=a.jsonl', '--index', 'b.jsonl', '--json'], { cwd });
    expect(r.code).toBe(2);
    const message = jsonOf(r).error?.message ?? '';
    expect(message).toContain('--index');
    expect(message).toContain('a.jsonl');
    expect(message).toContain('b.jsonl');
    expect(existsSync(join(cwd, 'a.jsonl')) || existsSync(join(cwd, 'b.jsonl'))).toBe(false);
  });

  it('takes one flag given twice with the same value, as --flag=value and --flag value', async () => {
    const cwd = await episodesLikeCwd('same-twice');
    const r = await cli(['index', 'backfill', '--episodes-root=.', '--index=i.jsonl', '--index', 'i.jsonl', '--json'], { cwd });
    expect(r.code).toBe(0);
    expect(jsonOf(r).report.appended).toBe(1);
  });

  it('refuses a command switch given both on and off (--dry-run … --no-dry-run) instead of taking the last', async () => {
    const cwd = await episodesLikeCwd('switch-twice');
    for (const args of [
      ['--dry-run', '--no-dry-run'],
      ['--dry-run=true', '--dry-run=false'],
    ]) {
      const r = await cli(['index', 'backfill', '--episodes-root', '.', '--index', 'i.jsonl', ...args, '--json'], { cwd });
      expect(r.code, r.stderr).toBe(2);
      const message = jsonOf(r).error?.message ?? '';
      expect(message).toContain('--dry-run');
      expect(message).toContain('--no-dry-run');
      expect(existsSync(join(cwd, 'i.jsonl'))).toBe(false);
    }
    // The same switch twice says one thing; the output switches keep the last word.
    const same = await cli(
      ['index', 'backfill', '--episodes-root', '.', '--index', 'i.jsonl', '--dry-run', '--dry-run', '--json', '--no-json'],
      { cwd },
    );
    expect(same.code, same.stderr).toBe(0);
    expect(existsSync(join(cwd, 'i.jsonl'))).toBe(false);
  });
});
