/**
 * Root running the backfill in the receiver's directory (the runbook says
 * `sudo -u <receiver>`, and operators forget): a new index owned by root
 * would lock the receiver out of appending its rows.
 */
import { chownSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { RECEIVER_UID, receiverTree, scratch } from './episode-tree.js';

const isRoot = process.geteuid?.() === 0;

describe.skipIf(!isRoot)(`backfillIndex run as root in a directory another user owns${isRoot ? '' : ' (skipped: needs root)'}`, () => {
  it('does not create the index as root: IO_ERROR saying to run as that user, and no file', async () => {
    const { root, index } = await receiverTree('owner');
    const result = await backfillIndex({ episodesRoot: root, index });
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('IO_ERROR');
    expect(error.message).toContain(`uid ${RECEIVER_UID}`);
    expect(error.message).toContain('sudo -u');
    expect(error.partial?.appended).toBe(0);
    expect(existsSync(index)).toBe(false);
    expect(existsSync(`${index}.backfill.lock`)).toBe(false);
  });

  it('appends to an index that user already has, which keeps its owner', async () => {
    const { root, index } = await receiverTree('owner');
    writeFileSync(index, '');
    chownSync(index, RECEIVER_UID, RECEIVER_UID);
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(report.appended).toBe(1);
    expect(statSync(index).uid).toBe(RECEIVER_UID);
  });

  it('still creates it in a directory root owns, and a dry run is never refused', async () => {
    const { lib, root, index } = await receiverTree('owner');
    expect((await backfillIndex({ episodesRoot: root, index, dryRun: true }))._unsafeUnwrap().toBackfill).toBe(1);
    chownSync(lib, 0, 0);
    expect((await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap().appended).toBe(1);
  });

  it('does not create it through a link to a missing index in that directory either', async () => {
    const { lib, root } = await receiverTree('owner');
    const data = join(lib, 'data');
    mkdirSync(data);
    chownSync(data, RECEIVER_UID, RECEIVER_UID);
    const rootsDir = scratch('owner-link'); // root's: the link lives here, the file it names would not
    const index = join(rootsDir, 'index.jsonl');
    symlinkSync(join(data, 'index.jsonl'), index);
    const error = (await backfillIndex({ episodesRoot: root, index, lockPath: join(rootsDir, 'lock') }))._unsafeUnwrapErr();
    expect(error.code).toBe('IO_ERROR');
    expect(error.message).toContain(`uid ${RECEIVER_UID}`);
    expect(existsSync(join(data, 'index.jsonl'))).toBe(false);
  });
});
