/**
 * Names that reach the text output come from disk (episode files are named
 * by the hosts that upload them). A control character in one must not
 * start a line of its own or drive the terminal: text output and logs
 * show it escaped.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { cli, jsonOf } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-cli-ctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOSTILE_ID = 'ep-\u001b[2J\nbackfilled 99 rows into spoofed';

describe('backfill-kit text output and names with control characters', () => {
  it('index backfill escapes them in its report lines and its log lines', async () => {
    const root = join(dir, 'episodes');
    mkdirSync(join(root, 'h'), { recursive: true });
    writeFileSync(join(root, 'h', `${HOSTILE_ID}.tar.zst`), 'not a tarball');
    const args = ['index', 'backfill', '--episodes-root', root, '--index', join(dir, 'index.jsonl'), '--dry-run'];
    const r = await cli(args);
    // Not a tarball: its row would get no commit, which exits 5 (bad input data).
    expect(r.code).toBe(5);
    for (const text of [r.stdout, r.stderr]) {
      expect(text).not.toContain('\u001b[2J');
      expect(text).not.toMatch(/^backfilled 99 rows/m);
      expect(text).toContain('ep-\\u001b[2J\\u000abackfilled 99 rows');
    }
    // --json carries the name exactly.
    const json = await cli([...args, '--json']);
    expect(jsonOf(json).report.rows[0].episode_id).toBe(HOSTILE_ID);
  });
});

describe('backfill-kit dataset verify and a member named with control characters', () => {
  it('escapes the name in the progress line it writes after the last member, as in the report', async () => {
    const member = `m-\u001b[2J\nverified 99 members\u202e.ndjson`;
    const file = join(dir, 'hostile-member.tar.zst');
    (await writeDataset(file, { members: { [member]: ['{"id":1}'] }, sha256File: false }))._unsafeUnwrap();
    const r = await cli(['dataset', 'verify', file]);
    expect(r.code).toBe(0);
    for (const text of [r.stdout, r.stderr]) {
      expect(text).not.toContain('\u001b[2J');
      expect(text).not.toContain('\u202e');
      expect(text).not.toMatch(/^verified 99 members/m);
    }
    expect(r.stderr).toContain('m-\\u001b[2J\\u000averified 99 members\\u202e.ndjson (done in');
  });
});

describe('a flag pasted with an invisible or look-alike space', () => {
  // A web page or chat program pastes a non-breaking space between a flag and its value, or a zero-width one beside it.
  it.for([
    ['--batch-size\u00a0500', '--batch-size\\u00a0500'],
    ['--quiet\u200b', '--quiet\\u200b'],
    ['\ufeff--quiet', '\\ufeff--quiet'],
  ])('%s: the message shows the character as an escape, not as a space or nothing', async ([word, shown]) => {
    const r = await cli(['dataset', 'rollback', word as string]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(shown);
  });
});
