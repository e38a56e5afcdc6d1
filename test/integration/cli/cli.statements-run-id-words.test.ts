/**
 * A `--run-id` the library refuses (blank, too long, with an invisible
 * character, naming a range of a planned run) was reported in the
 * library's words, as `runId must be …`: an option the operator of the CLI
 * never typed. The message names the flag, for every statements command
 * that takes one.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { useSeededDatabase } from '../statements/helpers.js';
import { cliInProcess, jsonOf } from './cli-harness.js';

let db: TestDatabase;
useSeededDatabase({ seed: 3, count: 3, brokenRatio: 0 }, (created) => (db = created));

describe('statements --run-id refused by the library', () => {
  it.for([
    { name: 'backfill, blank', command: ['statements', 'backfill'], runId: ' ' },
    { name: 'backfill, too long', command: ['statements', 'backfill'], runId: 'x'.repeat(201) },
    { name: 'backfill, a zero-width space', command: ['statements', 'backfill'], runId: 'a\u200bb' },
    { name: 'backfill --workers, blank', command: ['statements', 'backfill', '--workers', '1'], runId: ' ' },
    { name: 'plan, blank', command: ['statements', 'plan'], runId: ' ' },
    { name: 'plan, a range name', command: ['statements', 'plan'], runId: 'run#range-1' },
    { name: 'report, blank', command: ['statements', 'report'], runId: ' ' },
  ])('$name: names --run-id, exit 2', { timeout: 60_000 }, async ({ command, runId }) => {
    const r = await cliInProcess([...command, '--run-id', runId, '--json'], { env: { PGURI: db.url } });
    const doc = jsonOf(r);
    expect(doc.error?.code, r.stderr).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toMatch(/^--run-id\b/);
    expect(doc.error?.message).not.toMatch(/\brunId\b/);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --run-id\b/m);
    expect(r.code).toBe(2);
  });
});
